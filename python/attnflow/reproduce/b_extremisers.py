"""[B] Figures 1, 3, 6: maximisers and minimisers of E(mu) = 1/2 iint e^{<x,Dy>} on S^2 for the
interaction matrices of the paper, reached by the ascent (V = +D) or descent (V = -D).

References (derived here; the engine is not used for them):
* D = I, ascent: E <= 1/2 e^{lambda_max} since <x,Dy> <= lambda_max, with equality iff mu is a Dirac
  (on a top eigenvector): E = e/2 for D = I, e^4/2 for D = diag(1, 3, 4).
* Antipodal pair p delta_v + q delta_{-v} on an eigenvector v (eigenvalue lam), stationary for every
  p: E = 1/2 [(p^2 + q^2) e^lam + 2pq e^-lam].
* D negative definite: expanding e^{<x,Dy>} = sum_k <x,Dy>^k / k!, the odd terms are
  -||int (|D|^{1/2}x)^{(x)k} dmu||^2 <= 0 and the even ones are <= |lambda|_max^k (Cauchy-Schwarz), so
  E <= 1/2 cosh(|lambda|_max), with equality iff mu = 1/2 delta_v + 1/2 delta_{-v}, v a top eigenvector
  of |D|: E = cosh(1)/2 for D = -I.
* D PSD with a kernel, descent: e^z >= 1 + z gives E >= 1/2 (1 + <m, D m>) >= 1/2, with equality iff
  mu lives on S^2 ∩ ker D (= {+-e2} for D = diag(1, 0, 1)). Near it (u_i = D x_i small, s = sum_i w_i
  u_i u_i^T) the descent reads du_i/dt = -(m + s u_i) + O(|u|^3), so ds/dt = -2 s^2 D-weighted: each
  eigenvalue sigma of s (eigenvalue lam of D) obeys d(1/sigma)/dt -> 2 lam^2, i.e. the approach to the
  minimiser is algebraic, E - 1/2 ~ sum_k 1/(16 lam_k^2 t^2) (so slow that [B]'s code runs 20000 steps).
* D = I, descent: the minimiser over probability measures is the uniform measure,
  E = 1/2 int e^{<x,y>} dsigma(y) = sinh(1)/2; every empirical measure has E >= sinh(1)/2, and N i.i.d.
  uniform tokens have mean energy sinh(1)/2 + (e - sinh(1))/(2N) (the diagonal i = j carries e/2N).
"""
from __future__ import annotations

import math

import numpy as np

N = 64


def _mat(diag):
    return "[" + ",".join("[" + ",".join(repr(float(diag[i]) if i == j else 0.0) for j in range(3)) + "]"
                          for i in range(3)) + "]"


def _run(ctx, name, diag, sign, *extra):
    import attnflow as af
    out = ctx.out / "runs" / name
    ctx.cli("run", ctx.experiment("B_extremisers.toml"), "-o", out, "-q", "--threads", ctx.threads,
            "--set", f"model.K={_mat(diag)}", "--set", f"model.V={_mat([sign * v for v in diag])}",
            *extra)
    return af.load(out)


def _pair(x, v):
    """Split p (tokens with <x, v> > 0), the largest distance of a token from {+-v}, and the pair's
    closed-form energy for eigenvalue lam is computed by the caller."""
    s = x @ v
    p = float(np.mean(s > 0))
    dist = float(np.max(np.minimum(np.linalg.norm(x - v, axis=1), np.linalg.norm(x + v, axis=1))))
    return p, dist


def pair_energy(lam, p):
    q = 1.0 - p
    return 0.5 * ((p * p + q * q) * math.exp(lam) + 2 * p * q * math.exp(-lam))


def run(ctx):
    rows = []
    e3 = np.array([0.0, 0.0, 1.0])

    # identity, ascent: one Dirac, E = e/2
    r = _run(ctx, "identity_max", [1, 1, 1], +1)
    e = float(r.energy_b[-1])
    ctx.value("identity_max_rel_dev_energy", abs(e - math.e / 2) / (math.e / 2))
    ctx.value("identity_max_clusters", float(r.clusters[-1]))
    rows.append(["identity", "max", "uniform", e, math.e / 2, float(r.clusters[-1]), "", "",
                 float(r.stationarity[-1])])
    residuals = [float(r.stationarity[-1])]
    finals = {"identity, ascent": r.x[-1]}

    # positive definite, ascent from the cap x3 > 0: the maximiser, a Dirac on e3, E = e^4/2
    import attnflow as af
    x0 = np.array(af.init.uniform_sphere(N, 3, seed=1))
    x0[:, 2] = np.abs(x0[:, 2])
    np.save(ctx.out / "cap_start.npy", x0)
    r = _run(ctx, "pd_max_cap", [1, 3, 4], +1, "--set", 'init.kind="file"',
             "--set", f'init.path="{ctx.out / "cap_start.npy"}"')
    e = float(r.energy_b[-1])
    p, dist = _pair(r.x[-1], e3)
    ctx.value("pd_cap_rel_dev_energy", abs(e - math.exp(4) / 2) / (math.exp(4) / 2))
    ctx.value("pd_cap_max_dist_from_e3", dist)
    rows.append(["diag(1,3,4)", "max", "cap x3>0", e, math.exp(4) / 2, float(r.clusters[-1]), p, dist,
                 float(r.stationarity[-1])])
    residuals.append(float(r.stationarity[-1]))
    finals["diag(1,3,4), ascent, cap start"] = r.x[-1]

    # positive definite, ascent from uniform tokens: an antipodal pair on e3 (stationary, not the max)
    r = _run(ctx, "pd_max_uniform", [1, 3, 4], +1)
    e = float(r.energy_b[-1])
    p, dist = _pair(r.x[-1], e3)
    ref = pair_energy(4.0, p)
    ctx.value("pd_uniform_max_dist_from_pm_e3", dist)
    ctx.value("pd_uniform_rel_dev_energy_from_pair_formula", abs(e - ref) / ref)
    ctx.value("pd_uniform_energy_over_bound", e / (math.exp(4) / 2))
    rows.append(["diag(1,3,4)", "max", "uniform", e, ref, float(r.clusters[-1]), p, dist,
                 float(r.stationarity[-1])])
    residuals.append(float(r.stationarity[-1]))
    finals["diag(1,3,4), ascent, uniform start"] = r.x[-1]

    # negative definite -I, ascent: antipodal pair (any axis), max 1/2 cosh 1 at p = 1/2
    r = _run(ctx, "nd_max", [-1, -1, -1], +1)
    x = np.asarray(r.x[-1])
    w, vecs = np.linalg.eigh(x.T @ x / len(x))
    v = vecs[:, -1]
    p, dist = _pair(x, v)
    e = float(r.energy_b[-1])
    ref = pair_energy(-1.0, p)
    ctx.value("nd_max_dist_from_pair", dist)
    ctx.value("nd_rel_dev_energy_from_pair_formula", abs(e - ref) / ref)
    ctx.value("nd_energy_over_bound", e / (0.5 * math.cosh(1.0)))
    rows.append(["-I", "max", "uniform", e, ref, float(r.clusters[-1]), p, dist,
                 float(r.stationarity[-1])])
    residuals.append(float(r.stationarity[-1]))
    finals["-I, ascent"] = x

    # indefinite diag(1, -3, -4), ascent: antipodal pair on e3 (the most negative eigenvalue)
    r = _run(ctx, "indefinite_max", [1, -3, -4], +1)
    e = float(r.energy_b[-1])
    p, dist = _pair(r.x[-1], e3)
    ref = pair_energy(-4.0, p)
    ctx.value("indefinite_max_dist_from_pm_e3", dist)
    ctx.value("indefinite_rel_dev_energy_from_pair_formula", abs(e - ref) / ref)
    rows.append(["diag(1,-3,-4)", "max", "uniform", e, ref, float(r.clusters[-1]), p, dist,
                 float(r.stationarity[-1])])
    residuals.append(float(r.stationarity[-1]))
    finals["diag(1,-3,-4), ascent"] = r.x[-1]
    ctx.value("max_stationarity_residual_ascents", max(residuals))

    # identity, descent: towards the uniform measure, E >= sinh(1)/2
    r = _run(ctx, "identity_min", [1, 1, 1], -1, "--set", "integrate.t_end=200.0",
             "--set", "output.every=2.0")
    e = float(r.energy_b[-1])
    e_inf = 0.5 * math.sinh(1.0)
    ctx.value("identity_min_energy_excess", e - e_inf)
    ctx.value("identity_min_anisotropy", float(np.max(np.linalg.eigvalsh(
        np.asarray(r.x[-1]).T @ np.asarray(r.x[-1]) / N))))
    rows.append(["identity", "min", "uniform", e, e_inf, float(r.clusters[-1]), "", "",
                 float(r.stationarity[-1])])
    finals["identity, descent"] = r.x[-1]

    # semidefinite diag(1, 0, 1), descent: measures on {+-e2}; algebraic approach
    t_end = 800.0 if ctx.quick else 1600.0
    r = _run(ctx, "sd_min", [1, 0, 1], -1, "--set", f"integrate.t_end={t_end!r}",
             "--set", f"output.times=[{t_end / 4!r},{t_end / 2!r},{t_end!r}]")
    dmat = np.diag([1.0, 0.0, 1.0])
    inv_sigma = []
    for x in r.x:
        u = np.asarray(x) @ dmat
        inv_sigma.append(1.0 / np.linalg.eigvalsh(u.T @ u / N)[1:])   # the two range eigenvalues
    slope = (inv_sigma[2] - inv_sigma[1]) / (t_end / 2)
    e = float(r.energy_b[-1])
    ctx.value("sd_min_energy_excess", e - 0.5)
    ctx.value("sd_min_slope_inv_sigma_rel_dev", float(np.max(np.abs(slope / 2.0 - 1.0))))
    ctx.value("sd_min_max_dist_from_kernel", float(np.max(np.linalg.norm(
        np.asarray(r.x[-1]) @ dmat, axis=1))))
    rows.append(["diag(1,0,1)", "min", "uniform", e, 0.5, float(r.clusters[-1]),
                 float(np.mean(np.asarray(r.x[-1])[:, 1] > 0)), "", float(r.stationarity[-1])])
    finals["diag(1,0,1), descent"] = r.x[-1]
    ctx.json("semidefinite_rate.json", {"t": [t_end / 4, t_end / 2, t_end],
                                        "inverse_sigma": [s.tolist() for s in inv_sigma],
                                        "slope": slope.tolist(), "expected_slope": 2.0,
                                        "t2_energy_excess": t_end ** 2 * (e - 0.5),
                                        "t2_energy_excess_asymptote": 2 / 16})

    ctx.csv("extremisers.csv", ["D", "max_or_min", "start", "energy_b", "reference_energy",
                                "clusters", "split_p", "max_dist_from_support", "stationarity"], rows)

    fig = _figure(ctx, finals)
    ctx.figure(fig, "extremisers.png",
               "Final tokens (64, S^2) of the ascent / descent of E = 1/2 iint e^{<x,Dy>} for the "
               "matrix classes of [B] (Figures 1, 3, 6): identity ascent (one Dirac), diag(1,3,4) "
               "ascent from the cap x3 > 0 (Dirac on e3, the maximiser) and from uniform tokens "
               "(antipodal pair on e3), -I ascent (balanced antipodal pair), diag(1,-3,-4) ascent "
               "(antipodal pair on e3), identity descent (near-uniform), diag(1,0,1) descent "
               "(tokens approaching the kernel points +-e2).")


def _figure(ctx, finals):
    fig = ctx.subplots(1, 1)[0]
    import matplotlib.pyplot as plt
    plt.close(fig)
    fig = plt.figure(figsize=(17, 3.4))
    u, v = np.mgrid[0:2 * np.pi:30j, 0:np.pi:15j]
    for k, (title, x) in enumerate(finals.items()):
        ax = fig.add_subplot(1, len(finals), k + 1, projection="3d")
        ax.plot_wireframe(np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v), color="0.85",
                          lw=0.4)
        x = np.asarray(x)
        ax.scatter(x[:, 0], x[:, 1], x[:, 2], s=12, color="C3", depthshade=False)
        ax.set_title(title, fontsize=6.5)
        ax.set_axis_off()
        ax.set_box_aspect((1, 1, 1))
    return fig
