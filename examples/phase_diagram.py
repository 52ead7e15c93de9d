"""A (t, β) phase diagram of clustering, after [R] Fig. "phase.diag.Id": n = 32 tokens uniform on
S^{d−1}, Q = K = V = I, the fraction of pairs with ⟨x_i, x_j⟩ > 1 − δ (δ = 10⁻³), median over a
batch of random starts, for a grid of β. Many small systems from Python; `attnflow sweep` does the
same in parallel in C++ (and `attnflow plot` draws its sweep.h5).

    PYTHONPATH=build/python python3 examples/phase_diagram.py [--out DIR] [--quick]
"""
import argparse
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import attnflow as af  # noqa: E402


def main(out: pathlib.Path, quick: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    n, d = 32, 8
    betas = np.linspace(0.5, 9.0, 4 if quick else 18)
    seeds = range(1, 4 if quick else 17)
    t = np.geomspace(0.1, 20.0 if quick else 60.0, 12 if quick else 40)
    grid = np.zeros((len(betas), len(t)))
    for b, beta in enumerate(betas):
        runs = [af.simulate({"beta": float(beta)}, af.init.uniform_sphere(n, d, seed=s), t_end=t[-1], dt=0.1,
                            times=t, observables=["pair_fraction"], trajectory=False).pair_fraction
                for s in seeds]
        grid[b] = np.median(runs, axis=0)
    # pairs cluster later at larger β (metastability), and all of them eventually
    print("median pair fraction at the last time, by beta:", np.round(grid[:, -1], 3).tolist())
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    af.plot.phase_diagram(t, betas, grid, ax=ax, log_time=True)
    ax.set_title(f"n = {n}, d = {d}, median over {len(seeds)} starts")
    fig.tight_layout()
    fig.savefig(out / "phase_diagram.png", dpi=80)
    print("wrote", out / "phase_diagram.png")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="out/examples/phase_diagram")
    parser.add_argument("--quick", action="store_true", help="a smaller, faster version (used by the tests)")
    args = parser.parse_args()
    main(pathlib.Path(args.out), args.quick)
