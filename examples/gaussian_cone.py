"""Gaussian data stay Gaussian ([C] §"Gaussian data"): the covariance Σ(t) of the moment ODE
Σ̇ = VΣAΣ + ΣAᵀΣVᵀ (softmax, A = βKᵀQ) drawn in the cone of 2×2 PSD matrices, for several initial
covariances, and the particle system started from samples of the same Gaussian, whose empirical
law approaches N(m(t), Σ(t)) as N grows (W2 ~ N^{-1/2}).

    PYTHONPATH=build/python python3 examples/gaussian_cone.py [--out DIR] [--quick]
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
    model = af.Model(geometry="euclidean", kernel="softmax", beta=1.0, V=[[-1.0, 0.0], [0.0, -0.3]],
                     Q=[[1.0, 0.5], [0.0, 1.0]])
    mean = np.array([0.5, -0.5])
    covs = [np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([[1.5, 0.6], [0.6, 0.5]]),
            np.array([[0.4, -0.3], [-0.3, 1.2]])]
    t_end = 3.0
    paths = [af.gaussian.simulate(model, mean, c, t_end, method="dopri5", every=0.05).cov for c in covs]
    fig = plt.figure(figsize=(10, 4.5))
    af.plot.covariance_cone(paths, ax=fig.add_subplot(121, projection="3d"), labels=["I", "tilted", "anti"])
    af.plot.covariance_cone(paths, ax=fig.add_subplot(122), normalized=True)
    fig.tight_layout()
    fig.savefig(out / "cone.png", dpi=80)
    # particles against the Gaussian solution: the W2 error shrinks with N
    for n in ([50, 200] if quick else [100, 400, 1600]):
        x0 = af.init.gaussian(n, mean, covs[1], seed=1)
        res = af.simulate(model, x0, t_end, dt=0.01, times=[t_end], observables=["gaussian_w2"],
                          gaussian=(mean, covs[1]), trajectory=False)
        print(f"N = {n:5d}: W2(particles, N(m(t), Sigma(t))) at t = {t_end:g}: {res.gaussian_w2[-1]:.4f}")
    print("wrote", out / "cone.png")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="out/examples/gaussian_cone")
    parser.add_argument("--quick", action="store_true", help="a smaller, faster version (used by the tests)")
    args = parser.parse_args()
    main(pathlib.Path(args.out), args.quick)
