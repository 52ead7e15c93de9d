"""[C] §Gaussian data, d = 2: the regimes of the covariance ODE for softmax, L2, multi-head and
Sinkhorn attention — convergence to zero, to a line, to two lines, blow-up / divergence, and
dependence on the initial covariance (the figures of [C]'s code, 2d_plots.py).

For each regime a grid of initial covariances Σ0 with tr Σ0 = 1 (the disk of Σ0/tr Σ0, as in [C]) is
integrated by the engine (`attnflow.gaussian.simulate`, which is `attnflow gaussian`) for every kernel,
and the outcome is compared with a value derived independently of the engine: closed forms
(Σ⁻¹ linear in t for V = I softmax; an implicit scalar closed form for L2 with K = −Q rank one), the
1/t decay of the quadratic ODE, the rank-one stationary set {s uuᵀ : uᵀAu = 0}, and, for the
multi-head blow-up time, an independent NumPy RK4 integration of the Σ-form ODE (labelled as such).
"""
from __future__ import annotations

import numpy as np

from attnflow import gaussian as G
from attnflow.model import Model

SQRT2 = np.sqrt(2.0)
REGIMES = ["zero", "line", "two_lines", "blowup", "both"]
KERNELS = ["softmax", "l2", "multihead", "sinkhorn"]
# which kernels [C]'s 2d_plots.py runs in each regime
RUNS = {
    "zero": ["softmax", "l2", "multihead", "sinkhorn"],
    "line": ["softmax", "l2"],
    "two_lines": ["softmax", "l2"],
    "blowup": ["softmax", "l2", "multihead", "sinkhorn"],
    "both": ["softmax", "l2", "multihead", "sinkhorn"],  # sinkhorn: not in [C], derived check
}
TITLES = {"zero": "convergence to 0", "line": "convergence to a line", "two_lines": "two lines",
          "blowup": "blow-up / divergence", "both": "depends on Σ0"}


def _base(ctx, regime):
    m = Model.from_toml(ctx.experiment(f"C_cov_d2_{regime}.toml")).to_dict()
    return {k: np.asarray(m[k], dtype=float) for k in ("Q", "K", "V")}, m


def variant(mats, kernel):
    """The attnflow model whose Gaussian ODE is [C]'s rhs_<kernel> (docs/reduced_models.md §5)."""
    Q, K, V = mats["Q"], mats["K"], mats["V"]
    if kernel == "softmax":   # rhs_trad: A = KᵀQ/√d
        return dict(geometry="euclidean", kernel="softmax", beta=1 / SQRT2, Q=Q, K=K, V=V)
    if kernel == "l2":        # rhs_L2: 2 V Σ (I + 2KᵀKΣ)⁻¹ KᵀQ Σ/√d = (G3) with β = 1 and V/√d
        return dict(geometry="euclidean", kernel="l2", beta=1.0, Q=Q, K=K, V=V / SQRT2)
    if kernel == "sinkhorn":  # rhs_sinkhorn: ε = 1, A = KᵀQ
        return dict(geometry="euclidean", kernel="sinkhorn", beta=1.0, Q=Q, K=K, V=V)
    # rhs_multihead, H = 2, k = 1: head h uses row h of Q, K, V and C_h = e_h V_h (W = I), A_h/√1
    heads = [dict(Q=Q[h:h + 1], K=K[h:h + 1], V=V[h:h + 1], W=np.eye(2)[:, h:h + 1]) for h in range(2)]
    return dict(geometry="euclidean", kernel="softmax", beta=1.0, heads=heads)


def init_grid(n):
    """Σ0 = ½[[1 + u, w], [w, 1 − u]] for (u, w) on an n×n grid of [−1, 1]² with u² + w² < 1:
    tr Σ0 = 1 and (u, w) are the disk coordinates of [C]'s 2-D figures."""
    s = np.linspace(-1.0, 1.0, n)
    return [0.5 * np.array([[1 + u, w], [w, 1 - u]]) for u in s for w in s if u * u + w * w < 1 - 1e-9]


def disk(cov):
    """((a − b), 2c)/(a + b) for Σ = [[a, c], [c, b]]: Σ/tr Σ in the unit disk, rank one on the circle."""
    cov = np.asarray(cov)
    tr = cov[..., 0, 0] + cov[..., 1, 1]
    return (cov[..., 0, 0] - cov[..., 1, 1]) / tr, 2 * cov[..., 0, 1] / tr


def solve(model, S0, t_end, times, **kw):
    return G.simulate(model, [0.0, 0.0], S0, t_end, method="dopri5", rtol=1e-10, atol=1e-14,
                      times=list(times), **kw)


def sigma_rhs_numpy(mats_heads, S):
    """Independent NumPy Σ̇ of multi-head softmax (SPEC §3): Σ_h C_h Σ A_h Σ + transpose."""
    out = np.zeros_like(S)
    for (A, C) in mats_heads:
        out += C @ S @ A @ S
    return out + out.T


def numpy_blowup_time(mats_heads, S0, h=2e-3, ratio=1e8):
    """Independent cross-check (NumPy, not the engine): classical RK4 on (Σ, t) in the rescaled time
    τ with dt/dτ = 1/tr Σ (Σ-form, not the engine's factor form), until tr Σ > ratio · tr Σ0; then
    t* ≈ t + tr Σ / (d tr Σ/dt) (simple pole)."""
    def f(y):
        S = y[:4].reshape(2, 2)
        tr = np.trace(S)
        return np.concatenate([(sigma_rhs_numpy(mats_heads, S) / tr).ravel(), [1.0 / tr]])
    y = np.concatenate([S0.ravel(), [0.0]])
    tr0 = np.trace(S0)
    for _ in range(10_000_000):
        k1 = f(y); k2 = f(y + h / 2 * k1); k3 = f(y + h / 2 * k2); k4 = f(y + h * k3)
        y = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        S = y[:4].reshape(2, 2)
        if np.trace(S) > ratio * tr0:
            dtr = np.trace(sigma_rhs_numpy(mats_heads, S))
            return y[4] + np.trace(S) / dtr
    raise RuntimeError("no blow-up")


def l2_line_closed_form(q, S0, c, beta, t):
    """L2 with K = −Q = −q (|q| = 1) and V = cI, closed form (derivation in the manifest):
    Σ⁻¹(t) = Σ0⁻¹ + φ(t) qᵀq with φ + 2β log(1 + s0 φ) = 4βc t, s0 = q Σ0 qᵀ (φ by bisection)."""
    s0 = float(q @ S0 @ q)
    target = 4 * beta * c * t
    lo, hi = 0.0, target  # g(φ) = φ + 2β log(1 + s0 φ) is increasing and g(target) ≥ target
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid + 2 * beta * np.log1p(s0 * mid) < target:
            lo = mid
        else:
            hi = mid
    phi = 0.5 * (lo + hi)
    return np.linalg.inv(np.linalg.inv(S0) + phi * np.outer(q, q))


def run(ctx):
    n_grid = 6 if ctx.quick else 12
    grid = init_grid(n_grid)
    rows = []          # per (regime, kernel, Σ0)
    paths = {}         # (regime, kernel) -> list of Σ(t) trajectories for the figure
    fine = np.geomspace(1e-2, 1e6, 49)

    # ---- convergence to zero -------------------------------------------------------------------
    mats, _ = _base(ctx, "zero")
    for k in RUNS["zero"]:
        model = variant(mats, k)
        worst = -1.0
        for S0 in grid:
            r = solve(model, S0, 1e6, np.concatenate([[0.0], fine]))
            p = np.log(r.trace[-1] / r.trace[-5]) / np.log(r.t[-1] / r.t[-5])   # slope over [1e5, 1e6]
            worst = max(worst, abs(p + 1.0))
            rows.append(["zero", k, S0[0, 0], S0[0, 1], "converged", r.trace[-1], p, np.nan])
            paths.setdefault(("zero", k), []).append(r.cov)
        ctx.value(f"zero_decay_exponent_dev_{k}", worst)

    # ---- convergence to a line (V = I) ----------------------------------------------------------
    mats, _ = _base(ctx, "line")
    q = mats["Q"][0] / np.linalg.norm(mats["Q"][0])
    T = 1e3
    for k in RUNS["line"]:
        model = variant(mats, k)
        err = 0.0
        for S0 in grid:
            r = solve(model, S0, T, np.concatenate([[0.0], np.geomspace(1e-2, T, 41)]))
            if k == "softmax":  # Σ(t)⁻¹ = Σ0⁻¹ − t B, B = β(KᵀQ + QᵀK) = −√2 qᵀq
                exact = np.linalg.inv(np.linalg.inv(S0) + SQRT2 * T * np.outer(q, q))
            else:
                exact = l2_line_closed_form(q, S0, 1 / SQRT2, 1.0, T)
            e = np.linalg.norm(r.cov[-1] - exact) / np.linalg.norm(exact)
            err = max(err, e)
            ev = np.linalg.eigvalsh(r.cov[-1])
            rows.append(["line", k, S0[0, 0], S0[0, 1], "converged", r.trace[-1], ev[0] / ev[1], e])
            paths.setdefault(("line", k), []).append(r.cov)
        ctx.value(f"line_closed_form_rel_error_{k}", err)

    # ---- two lines ------------------------------------------------------------------------------
    mats, _ = _base(ctx, "two_lines")
    A = mats["K"].T @ mats["Q"]
    As = A + A.T
    for k in RUNS["two_lines"]:
        model = variant(mats, k)
        iso, ratio = 0.0, 0.0
        for S0 in grid:
            r = solve(model, S0, 1e4, np.concatenate([[0.0], np.geomspace(1e-2, 1e4, 41)]))
            w, U = np.linalg.eigh(r.cov[-1])
            u = U[:, -1]
            iso = max(iso, abs(u @ As @ u) / np.linalg.norm(As, 2))
            ratio = max(ratio, w[0] / w[1])
            rows.append(["two_lines", k, S0[0, 0], S0[0, 1],
                         "converged" if r.blowup_time is None else "blowup", r.trace[-1], w[0] / w[1],
                         abs(u @ As @ u) / np.linalg.norm(As, 2)])
            paths.setdefault(("two_lines", k), []).append(r.cov)
        ctx.value(f"two_lines_isotropy_{k}", iso)
        ctx.value(f"two_lines_eig_ratio_{k}", ratio)

    # ---- blow-up / divergence (V = I) -----------------------------------------------------------
    mats, _ = _base(ctx, "blowup")
    B = (mats["K"].T @ mats["Q"] + mats["Q"].T @ mats["K"]) / SQRT2
    heads_np = [(mats["K"][h:h + 1].T @ mats["Q"][h:h + 1], np.outer(np.eye(2)[:, h], mats["V"][h]))
                for h in range(2)]
    nb_mh = 3 if ctx.quick else 8   # NumPy cross-checks are slow: a subset of the grid
    for k in RUNS["blowup"]:
        model = variant(mats, k)
        err, finite_blowups, n = 0.0, 0, 0
        T = 8.0 if k in ("l2", "sinkhorn") else 50.0   # L2 / Sinkhorn: keep tr Σ below the blow-up threshold
        for j, S0 in enumerate(grid):
            r = solve(model, S0, T, np.arange(0.0, T + 1e-12, 0.05))
            n += 1
            ref = np.nan
            if k == "softmax":
                w, U = np.linalg.eigh(S0)
                Sh = U @ np.diag(np.sqrt(w)) @ U.T
                ref = 1.0 / np.linalg.eigvalsh(Sh @ B @ Sh).max()
                err = max(err, abs(r.blowup_time - ref) / ref if r.blowup_time else np.inf)
            elif k == "multihead" and j % max(1, len(grid) // nb_mh) == 0:
                ref = numpy_blowup_time(heads_np, S0)
                err = max(err, abs(r.blowup_time - ref) / ref if r.blowup_time else np.inf)
            if r.blowup_time is not None:
                finite_blowups += 1
            rows.append(["blowup", k, S0[0, 0], S0[0, 1],
                         "blowup" if r.blowup_time is not None else "diverging", r.trace[-1],
                         r.blowup_time if r.blowup_time is not None else np.nan, ref])
            paths.setdefault(("blowup", k), []).append(r.cov)
        if k in ("softmax", "multihead"):
            ctx.value(f"blowup_time_rel_error_{k}", err)
            ctx.value(f"blowup_fraction_{k}", finite_blowups / n)
        else:
            ctx.value(f"blowup_fraction_{k}", finite_blowups / n)

    # ---- dependence on the initial covariance ---------------------------------------------------
    mats, _ = _base(ctx, "both")
    A = mats["K"].T @ mats["Q"]
    As = A + A.T
    # the Σ0 that blow up lie near the rank-one circle (nearly degenerate Σ0): add a ring of radius
    # 0.95 in the disk to the grid (12 angles quick, 24 full)
    n_ring = 12 if ctx.quick else 24
    ring = [0.5 * np.array([[1 + 0.95 * np.cos(a), 0.95 * np.sin(a)], [0.95 * np.sin(a), 1 - 0.95 * np.cos(a)]])
            for a in np.linspace(0, 2 * np.pi, n_ring, endpoint=False)]
    grid_both = grid + ring
    for k in RUNS["both"]:
        model = variant(mats, k)
        nb, iso = 0, 0.0
        for S0 in grid_both:
            r = solve(model, S0, 1e3, np.concatenate([[0.0], np.geomspace(1e-2, 1e3, 36)]))
            status = "blowup" if r.blowup_time is not None else "bounded"
            nb += r.blowup_time is not None
            if k == "softmax" and r.blowup_time is None:
                w, U = np.linalg.eigh(r.cov[-1])
                iso = max(iso, abs(U[:, -1] @ As @ U[:, -1]) / np.linalg.norm(As, 2))
            rows.append(["both", k, S0[0, 0], S0[0, 1], status, r.trace[-1],
                         r.blowup_time if r.blowup_time is not None else np.nan, np.nan])
            paths.setdefault(("both", k), []).append(r.cov)
        ctx.value(f"both_blowup_fraction_{k}", nb / len(grid_both))
        if k in ("l2", "sinkhorn"):
            # the no-blow-up derivation of the manifest needs K invertible
            ctx.value("both_key_matrix_abs_det", abs(float(np.linalg.det(mats["K"]))))
        if k == "softmax":
            ctx.value("both_bounded_isotropy_softmax", iso)

    ctx.csv("covariance_d2_runs.csv",
            ["regime", "kernel", "sigma0_11", "sigma0_12", "outcome", "final_trace", "stat", "reference"],
            rows)

    # ---- figure: Σ/tr Σ in the unit disk (boundary = rank one), as [C]'s 2-D figures -----------
    import matplotlib.cm as cm
    fig, axes = ctx.subplots(len(REGIMES), len(KERNELS), figsize=(11, 14))
    th = np.linspace(0, 2 * np.pi, 200)
    for i, reg in enumerate(REGIMES):
        for j, k in enumerate(KERNELS):
            ax = axes[i, j]
            ax.set_aspect("equal")
            ax.set_xticks([]); ax.set_yticks([])
            ax.plot(np.cos(th), np.sin(th), "k", lw=0.6, alpha=0.6)
            if i == 0:
                ax.set_title(k)
            if j == 0:
                ax.set_ylabel(TITLES[reg])
            if k not in RUNS[reg]:
                ax.text(0, 0, "not in [C]", ha="center", va="center", fontsize=8, color="0.5")
                continue
            ps = paths[(reg, k)]
            for c_i, cov in enumerate(ps):
                x, y = disk(cov)
                col = cm.viridis(c_i / max(1, len(ps) - 1))
                ax.plot(x, y, color=col, lw=0.8, alpha=0.7)
                ax.plot(x[-1], y[-1], "o", color=col, ms=2)
            if reg in ("two_lines", "both"):
                w, U = np.linalg.eigh(As)
                a = np.arctan(np.sqrt(-w[0] / w[1]))
                for s in (1, -1):
                    u = U @ np.array([np.cos(a), s * np.sin(a)])
                    x, y = disk(np.outer(u, u))
                    ax.plot([x], [y], "r*", ms=9)
            if reg == "line":
                z = np.array([-q[1], q[0]])
                x, y = disk(np.outer(z, z))
                ax.plot([x], [y], "r*", ms=9)
    fig.tight_layout()
    ctx.figure(fig, "covariance_d2.png",
               "Σ(t)/tr Σ(t) in the unit disk ((Σ11 − Σ22), 2Σ12)/tr Σ for a grid of Σ0 with tr Σ0 = 1, "
               "per regime (rows) and kernel (columns); the circle holds the rank-one matrices, red stars "
               "the predicted limit lines (q⊥ for 'a line', the isotropic directions uᵀAu = 0 for 'two "
               "lines'). Mirrors the 2-D figures of [C]'s code (2d_plots.py: *_explosion, *_divergence, "
               "*_both); the 'convergence to zero' and 'line' rows are shown normalised too (their 3-D "
               "cone figures in [C]).")

    # convergence to zero / to a line, unnormalised: tr Σ(t) against t
    fig, axes = ctx.subplots(1, 2, figsize=(10, 4))
    for k in RUNS["zero"]:
        tr = np.array([np.trace(c, axis1=1, axis2=2) for c in paths[("zero", k)]])
        axes[0].loglog(fine, np.median(tr[:, 1:], axis=0), label=k)
    axes[0].loglog(fine, 1 / fine, "k--", lw=0.8, label="1/t")
    axes[0].set_xlabel("t"); axes[0].set_ylabel("median tr Σ(t)"); axes[0].legend(fontsize=8)
    axes[0].set_title("convergence to zero: tr Σ ~ 1/t")
    tl = np.geomspace(1e-2, 1e3, 41)
    for k in RUNS["line"]:
        lam = np.array([[np.linalg.eigvalsh(c)[0] for c in cv[1:]] for cv in paths[("line", k)]])
        axes[1].loglog(tl, np.median(lam, axis=0), label=f"{k}: λ_min(Σ)")
    axes[1].set_xlabel("t"); axes[1].legend(fontsize=8); axes[1].set_title("convergence to a line")
    fig.tight_layout()
    ctx.figure(fig, "covariance_d2_rates.png",
               "Left: median tr Σ(t) over the grid in the 'convergence to zero' regime for the four kernels "
               "against 1/t. Right: the smallest eigenvalue of Σ(t) in the 'convergence to a line' regime "
               "(softmax, L2; V = I), which decays like 1/t while the other one converges.")
