"""[C] §Gaussian data: the rank of lim Σ(t) (equivalently of lim Σ/tr Σ) in d = 3, 4, 5 over random
draws of Q (⌊d/2⌋×d), K = −Q, Σ0 = GGᵀ and V = I or V = HᵀH, for softmax and L2 attention (the
histograms of [C]'s code, histograms.py).

The limit rank is read from the engine's Σ(t) at t = 10⁶ and 10⁷: for each eigenpair (λ, u) of Σ(10⁷),
λ / uᵀΣ(10⁶)u is ≈ 1 for a direction whose variance converges to a non-zero value and ≈ 0.1 for one
that tends to zero like 1/t; the rank is the number of ratios > 0.5. A draw with a ratio in (0.2, 0.8)
is "undetermined" at this horizon (an ill-conditioned Σ0 = GGᵀ gives limit eigenvalues down to ~1e-6
tr Σ that separate from the decaying ones only later; longer horizons lose accuracy) and is left out
of the fractions, and counted (rank −1 in the CSV). Expected values are derived (no numbers are
printed in [C]): with V = I the rank is ⌈d/2⌉ for every draw (closed form); with V ≻ 0 every
stationary point has QΣ = 0, hence rank ≤ ⌈d/2⌉.
"""
from __future__ import annotations

import numpy as np

from attnflow import gaussian as G
from attnflow.model import Model

DIMS = [3, 4, 5]
KERNELS = ["softmax", "l2"]
VALUES = ["identity", "random"]


def draw(rng, d):
    k = d // 2
    Q = rng.standard_normal((k, d))
    Gm = rng.standard_normal((d, d))
    H = rng.standard_normal((d, d))
    return Q, Gm @ Gm.T, H.T @ H


def model_for(kernel, Q, V, d):
    if kernel == "softmax":   # [C] rhs_trad: A = KᵀQ/√d
        return dict(geometry="euclidean", kernel="softmax", beta=1 / np.sqrt(d), Q=Q, K=-Q, V=V)
    # [C] rhs_L2: 2VΣ(I + 2KᵀKΣ)⁻¹KᵀQΣ/√d = attnflow's (G3) with β = 1 and V/√d
    return dict(geometry="euclidean", kernel="l2", beta=1.0, Q=Q, K=-Q, V=V / np.sqrt(d))


def run(ctx):
    cfg = ctx.experiment("C_rank_statistics.toml")
    Model.from_toml(cfg)  # the config parses (its [model] is one example draw)
    n_draws = 25 if ctx.quick else 100
    T1, T2 = 1e6, 1e7
    rng = np.random.default_rng(2025)
    rows = []
    hist = {}                     # (kernel, V, d) -> ranks
    hist_c = {}                   # same with [C]'s criterion: eigenvalues of Σ(T) above 0.1
    ambiguous = 0
    closed_err = [0.0, 0.0]
    n_total = 0
    for d in DIMS:
        for i in range(n_draws):
            Q, S0, Vr = draw(rng, d)
            for vname, V in (("identity", np.eye(d)), ("random", Vr)):
                for kern in KERNELS:
                    r = G.simulate(model_for(kern, Q, V, d), np.zeros(d), S0, T2, method="dopri5",
                                   rtol=1e-10, atol=1e-14, times=[0.0, T1, T2])
                    if r.blowup_time is not None or r.t[-1] != T2:
                        raise RuntimeError(f"d={d} draw {i} {vname} {kern}: did not reach t = {T2}")
                    # eigenpairs (λ_k, u_k) of Σ(T2) against the Rayleigh quotients u_kᵀΣ(T1)u_k:
                    # robust to eigenvalue crossings between T1 and T2
                    l2, U = np.linalg.eigh(r.cov[2])
                    l1 = np.einsum("ik,ij,jk->k", U, r.cov[1], U)
                    ratio = (l2 / np.maximum(l1, 1e-300))[::-1]
                    l2 = l2[::-1]
                    undetermined = bool(np.any((ratio > 0.2) & (ratio < 0.8)))
                    rank = -1 if undetermined else int(np.sum(ratio > 0.5))
                    ambiguous += undetermined
                    rank_c = int(np.sum(l2 > 0.1))
                    hist.setdefault((kern, vname, d), []).append(rank)
                    hist_c.setdefault((kern, vname, d), []).append(rank_c)
                    n_total += 1
                    if vname == "identity" and kern == "softmax":
                        # closed form at t = T1, T2: Σ = (Σ0⁻¹ + (2/√d) t QᵀQ)⁻¹
                        for a, t in ((1, T1), (2, T2)):
                            exact = np.linalg.inv(np.linalg.inv(S0) + 2 / np.sqrt(d) * t * Q.T @ Q)
                            e = np.linalg.norm(r.cov[a] - exact) / np.linalg.norm(exact)
                            closed_err[a - 1] = max(closed_err[a - 1], e)
                    rows.append([d, i, vname, kern, rank, rank_c] + [f"{x:.6g}" for x in ratio])
    ctx.csv("rank_runs.csv", ["d", "draw", "V", "kernel", "rank", "rank_C_criterion", "eig_ratios_1e7_over_1e6"],
            rows)

    summary = []
    for (kern, vname, d), ranks in sorted(hist.items()):
        ranks = np.array(ranks)
        rc = np.array(hist_c[(kern, vname, d)])
        for rk in range(0, d + 1):
            summary.append([kern, vname, d, rk, float(np.mean(ranks == rk)), float(np.mean(rc == rk))])
    ctx.csv("rank_histogram.csv", ["kernel", "V", "d", "rank", "fraction", "fraction_C_criterion"], summary)

    def determined(key):
        a = np.array(hist[key])
        return a[a >= 0]

    for kern in KERNELS:
        full = [np.mean(determined((kern, "identity", d)) == (d + 1) // 2) for d in DIMS]
        ctx.value(f"identity_rank_ceil_half_fraction_{kern}", float(np.min(full)))
        below = [np.mean(determined((kern, "random", d)) <= (d + 1) // 2) for d in DIMS]
        ctx.value(f"random_rank_at_most_ceil_half_fraction_{kern}", float(np.min(below)))
        for d in DIMS:
            ctx.value(f"random_rank_ceil_half_fraction_{kern}_d{d}",
                      float(np.mean(determined((kern, "random", d)) == (d + 1) // 2)))
    ctx.value("undetermined_fraction", ambiguous / n_total)
    ctx.value("identity_softmax_closed_form_rel_error_1e6", closed_err[0])
    ctx.value("identity_softmax_closed_form_rel_error_1e7", closed_err[1])

    fig, axes = ctx.subplots(4, 3, figsize=(10, 10))
    for i, (kern, vname) in enumerate([(k, v) for k in KERNELS for v in VALUES]):
        for j, d in enumerate(DIMS):
            ax = axes[i, j]
            bins = np.arange(0, d + 2) - 0.5
            ax.hist([determined((kern, vname, d)), hist_c[(kern, vname, d)]], bins=bins,
                    label=["limit rank (decade test)", "[C]'s criterion: eig Σ(T) > 0.1"])
            ax.axvline((d + 1) // 2, color="r", ls=":", lw=1)
            ax.set_xticks(range(0, d + 1))
            if i == 0:
                ax.set_title(f"d = {d}")
            if j == 0:
                ax.set_ylabel(f"{kern}, V {vname}")
            if i == 3:
                ax.set_xlabel("rank")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    ctx.figure(fig, "rank_histograms.png",
               f"Rank of lim Σ(t) over {n_draws} random (Q, Σ0, V) per dimension, K = −Q, Q ⌊d/2⌋×d, for "
               "softmax and L2 with V = I and V = HᵀH (rows), d = 3, 4, 5 (columns); blue: eigenvalues that "
               "do not decay between t = 1e6 and 1e7; undetermined draws left out, orange: [C]'s criterion (eigenvalues of Σ(1e7) above "
               "0.1, which also counts small non-zero limits as missing). Dotted: ⌈d/2⌉. Mirrors [C]'s "
               "histograms_trad / histograms_L2.")
