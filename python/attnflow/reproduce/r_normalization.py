"""[R] Figure 4 (from Karagodin–Ge–Polyanskiy–Rigollet, "Normalization in attention dynamics"):
the mean pairwise cosine rho(t) of n tokens under each normalisation scheme (Post-LN, Pre-LN,
Mix-LN, Peri-LN, nGPT, sqrt-scaling) with random Q, K, V = I, beta = sqrt(d), d > n, and the
10-90 % band over token draws."""
import math

import numpy as np

from .common import read_sweep

SCHEMES = ["post_ln", "pre_ln", "mix_ln", "peri_ln", "ngpt", "sqrt_scaling"]
MIX_TAU = 5.0
T_COMPARE = 2.0
Z90 = 2.5631031311  # q90 - q10 of a normal law, in standard deviations


def run(ctx):
    if ctx.quick:
        cfg, seeds = "R_normalization_quick.toml", 8
    else:
        cfg, seeds = "R_normalization_d512_reproduce.toml", 6
    ctx.cli("sweep", ctx.experiment(cfg), "-o", ctx.out / "sweep", "--threads", ctx.threads,
            "--set", 'output.observables=["mean_cosine"]')
    t, axes, data = read_sweep(ctx.out / "sweep" / "sweep.h5")
    schemes = [s.decode() if isinstance(s, bytes) else str(s)
               for s in axes.get("model.normalization", SCHEMES)]
    assert schemes == SCHEMES, schemes
    mean, q10, q90 = (data[f"mean_cosine.{k}"] for k in ("mean", "q10", "q90"))
    k = {s: i for i, s in enumerate(schemes)}

    # Same token draws for every scheme: rho(0) must agree exactly.
    ctx.value("rho0_spread", float(np.max(mean[:, 0]) - np.min(mean[:, 0])))
    # Mix-LN is Post-LN until mix_tau, then Pre-LN.
    before = t <= MIX_TAU + 1e-9
    diff = np.abs(mean[k["mix_ln"]] - mean[k["post_ln"]])
    ctx.value("mix_vs_post_before_tau", float(np.max(diff[before])))
    ctx.value("mix_vs_post_at_end", float(diff[-1]))
    ctx.value("mix_separation_after_over_before", float(np.max(diff[~before]) / np.max(diff[before])))
    # Late times: Post-LN's exponential against Pre-LN's polynomial contraction (medians over draws,
    # which are robust to a draw that ends in two clusters).
    med = data["mean_cosine.median"]
    ctx.value("log10_pre_over_post_gap_at_end",
              float(math.log10((1 - med[k["pre_ln"], -1]) / max(1 - med[k["post_ln"], -1], 1e-300))))
    # Pre-LN collapses more slowly than Post-LN: difference of the means at t = 2 in units of its
    # standard error (sigma from the q10-q90 band of each scheme, unpaired: conservative).
    j = int(np.argmin(np.abs(t - T_COMPARE)))
    sig = lambda s: (q90[k[s], j] - q10[k[s], j]) / Z90
    se = math.sqrt(sig("post_ln") ** 2 + sig("pre_ln") ** 2) / math.sqrt(seeds)
    ctx.value("post_minus_pre_at_2_in_se", float((mean[k["post_ln"], j] - mean[k["pre_ln"], j]) / se))

    ctx.csv("mean_cosine.csv", ["scheme", "t", "mean", "q10", "q90"],
            [[s, tk, mean[i, n], q10[i, n], q90[i, n]] for i, s in enumerate(schemes)
             for n, tk in enumerate(t)])
    fig, ax = ctx.subplots(1, 1, figsize=(7, 4.5))
    for i, s in enumerate(schemes):
        # Mix-LN equals Post-LN until its switch: dashed, so that Post-LN stays visible.
        line, = ax.plot(t, mean[i], label=s, ls="--" if s == "mix_ln" else "-")
        ax.fill_between(t, q10[i], q90[i], color=line.get_color(), alpha=0.15, lw=0)
    ax.set_xlabel("t")
    ax.set_ylabel("ρ(t) = mean pairwise cosine")
    ax.set_ylim(-0.05, 1.02)
    ax.legend(fontsize=8)
    d = 64 if ctx.quick else 512
    ax.set_title(f"SA, random Q, K, V = I, d = {d}, β = √d, {seeds} token draws")
    ctx.figure(fig, "normalization.png",
               f"[R] Fig. 4: mean cosine ρ(t) per normalisation scheme (line: mean over {seeds} "
               "token draws; band: 10-90 % quantiles), n = " + ("16" if ctx.quick else "32") +
               f" tokens, d = {d}, β = √d.")
