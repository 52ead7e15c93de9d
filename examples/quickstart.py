"""Quick start: self-attention clusters tokens on the sphere ([R], clustering on the sphere).

64 tokens uniform on S², Q = K = V = I, β = 1 (SA, Post-LN): the tokens collapse to one cluster
and the energy E_β = 1/(2β) Σ_ij w_i w_j e^{β⟨x_i,x_j⟩} increases along the way (SA ascends it).

    PYTHONPATH=build/python python3 examples/quickstart.py [--out DIR] [--quick]
"""
import argparse
import pathlib

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402

import attnflow as af  # noqa: E402


def main(out: pathlib.Path, quick: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    n, t_end = (32, 10.0) if quick else (64, 15.0)
    model = af.Model(geometry="sphere", kernel="softmax", beta=1.0)
    x0 = af.init.uniform_sphere(n, 3, seed=1)
    print("velocity of token 0 at t = 0:", af.velocity(model, x0)[0])
    res = af.simulate(model, x0, t_end=t_end, dt=0.05, every=0.25, observables=["energy", "clusters"])
    assert np.all(np.diff(res.energy) > 0), "SA must increase the energy ([R])"
    final = af.clusters(res.x[-1])
    print(f"{n} tokens, t = {t_end:g}: {final.count} cluster(s), sizes {final.sizes.tolist()}, "
          f"energy gain {res.energy[-1] / res.energy[0]:.3f}")
    fig = af.plot.observables(res.t, res.observables)
    fig.savefig(out / "observables.png", dpi=80)
    ax = af.plot.sphere(res.x[-1], trajectory=res.x, labels=final.labels)
    ax.figure.savefig(out / "tokens.png", dpi=80)
    print("wrote", out / "observables.png", "and", out / "tokens.png")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="out/examples/quickstart")
    parser.add_argument("--quick", action="store_true", help="a smaller, faster version (used by the tests)")
    args = parser.parse_args()
    main(pathlib.Path(args.out), args.quick)
