"""Normalisation schemes change the speed of clustering ([R] §6; Karagodin–Ge–Polyanskiy–Rigollet):
1 − ρ(t) of the equiangular model for Post-LN (exponential, e^{−2t}), Pre-, Mix-, Peri-LN
(polynomial, t^{−2}), nGPT and √t-scaling, and a particle check: n tokens started equiangular
stay equiangular and follow the same ρ(t).

    PYTHONPATH=build/python python3 examples/normalization_schemes.py [--out DIR] [--quick]
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
    n, beta, rho0 = 8, 1.0, 0.0
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    af.plot.normalization_schemes(n, beta, rho0, t_end=50.0 if quick else 200.0, ax=ax, points=100 if quick else 400)
    fig.tight_layout()
    fig.savefig(out / "schemes.png", dpi=80)
    # the particles of the Post-LN model (tokens on the sphere) follow the ODE
    times = np.linspace(0.0, 3.0, 7)
    ode = af.equiangular.solve(n, beta, rho0, times=times)
    sim = af.simulate({"beta": beta}, af.init.equiangular(n, n, rho0), 3.0, method="dopri5", times=times,
                      rtol=1e-10, atol=1e-12, observables=["mean_cosine"])
    print("rho(t), ODE      :", np.round(ode.rho, 6).tolist())
    print("rho(t), particles:", np.round(sim.mean_cosine, 6).tolist())
    assert np.allclose(ode.rho, sim.mean_cosine, atol=1e-7)
    print("wrote", out / "schemes.png")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="out/examples/normalization_schemes")
    parser.add_argument("--quick", action="store_true", help="a smaller, faster version (used by the tests)")
    args = parser.parse_args()
    main(pathlib.Path(args.out), args.quick)
