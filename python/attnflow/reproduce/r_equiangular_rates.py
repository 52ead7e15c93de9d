"""[R] Section 6.1-6.2: exact clustering rates of the equiangular model, per attention kind and per
normalisation scheme, with the particles (the attention engine on n tokens in R^n started exactly
equiangular) alongside the reduced ODE.

Rates: 1 - rho ~ e^{-2t} for SA and e^{-2 e^beta t} for USA ([R], linearisation at rho = 1);
Post-LN e^{-2t} and Pre-LN t^{-2} ([R] §6.2). Peri-LN t^{-2}, nGPT e^{-2 alpha t} and
sqrt-scaling exp(-4 sqrt(t)) are derived from SPEC.md's speeds (not printed in [R])."""
import math

import numpy as np

from .common import read_csv_columns

N = 32
BETA = 4.0


def solve(ctx, *, kernel="sa", beta=BETA, normalization="post_ln", t_end=10.0, points=100,
          particles=False):
    args = ["equiangular", "--kernel", kernel, "--n", N, "--beta", beta, "--rho0", 0.0,
            "--t-end", t_end, "--points", points, "--normalization", normalization]
    if particles:
        args.append("--particles")
    return read_csv_columns(ctx.cli(*args).stdout)


def log_slope(t, y, lo, hi, log_t=False):
    """Least-squares slope of log y against t (or log t) over lo <= t <= hi."""
    sel = (t >= lo) & (t <= hi) & (y > 0)
    x = np.log(t[sel]) if log_t else t[sel]
    return float(np.polyfit(x, np.log(y[sel]), 1)[0])


def run(ctx):
    schemes = ["post_ln", "pre_ln", "peri_ln", "mix_ln", "ngpt", "sqrt_scaling"]
    if ctx.quick:
        schemes = ["post_ln", "pre_ln"]
    # Particles against the ODE, every scheme, t in [0, 10].
    worst = 0.0
    curves = {}
    for scheme in schemes:
        c = solve(ctx, normalization=scheme, t_end=10.0, points=50, particles=True)
        curves[scheme] = c
        worst = max(worst, float(np.nanmax(np.abs(c["rho_particles"] - c["rho"]))))
        worst = max(worst, float(np.nanmax(c["spread_particles"])))
    ctx.value("particles_vs_ode", worst)

    # Exponential rates at rho -> 1: SA (rate 2, any beta) and USA (rate 2 e^beta).
    sa = solve(ctx, t_end=16.0, points=160)
    ctx.value("rate_sa", -log_slope(sa["t"], 1 - sa["rho"], 12.0, 16.0))
    usa = solve(ctx, kernel="usa", beta=1.0, t_end=6.0, points=300)
    eps = 1 - usa["rho"]
    t_lo = float(usa["t"][np.argmax(eps < 1e-4)])
    ctx.value("rate_usa_over_e_beta", -log_slope(usa["t"], eps, t_lo, t_lo + 2.0) / math.e)
    # Polynomial rate of Pre-LN: slope of log(1 - rho) against log t on [1e3, 1e4].
    pre = solve(ctx, normalization="pre_ln", t_end=1e4, points=100)
    ctx.value("pre_ln_loglog_slope", log_slope(pre["t"], 1 - pre["rho"], 1e3, 1e4, log_t=True))
    rows = [["sa", "post_ln", ctx.values["rate_sa"]],
            ["usa(beta=1)", "post_ln", ctx.values["rate_usa_over_e_beta"] * math.e],
            ["sa", "pre_ln(log-log)", ctx.values["pre_ln_loglog_slope"]]]
    if not ctx.quick:
        peri = solve(ctx, normalization="peri_ln", t_end=1e4, points=100)
        ctx.value("peri_ln_loglog_slope",
                  log_slope(peri["t"], 1 - peri["rho"], 1e3, 1e4, log_t=True))
        ngpt = solve(ctx, normalization="ngpt", t_end=16.0, points=160)
        ctx.value("rate_ngpt", -log_slope(ngpt["t"], 1 - ngpt["rho"], 12.0, 16.0))
        sq = solve(ctx, normalization="sqrt_scaling", t_end=60.0, points=240)
        # 1 - rho ~ C exp(-4 sqrt(t + 1)): slope of log(1 - rho) against sqrt(t + 1) is -4.
        sel = (sq["t"] >= 40) & (sq["t"] <= 60)
        ctx.value("sqrt_scaling_rate", -float(np.polyfit(np.sqrt(sq["t"][sel] + 1),
                                                          np.log(1 - sq["rho"][sel]), 1)[0]))
        rows += [["sa", "peri_ln(log-log)", ctx.values["peri_ln_loglog_slope"]],
                 ["sa", "ngpt(alpha=1)", ctx.values["rate_ngpt"]],
                 ["sa", "sqrt_scaling(vs sqrt t)", ctx.values["sqrt_scaling_rate"]]]
    ctx.csv("rates.csv", ["kernel", "scheme", "measured_rate"], rows)
    ctx.csv("rho_particles.csv", ["scheme", "t", "rho_ode", "rho_particles"],
            [[s, t, r, p] for s, c in curves.items()
             for t, r, p in zip(c["t"], c["rho"], c["rho_particles"])])

    fig, (a1, a2) = ctx.subplots(1, 2, figsize=(10, 4))
    for scheme, c in curves.items():
        line, = a1.semilogy(c["t"], 1 - c["rho"], label=scheme)
        a1.semilogy(c["t"][::5], 1 - c["rho_particles"][::5], "o", ms=3, color=line.get_color())
    a1.set_xlabel("t")
    a1.set_ylabel("1 − ρ(t)")
    a1.set_title(f"SA, n = {N}, β = {BETA:g}: ODE (lines) and particles (dots)")
    a1.legend(fontsize=7)
    a2.loglog(sa["t"][1:], 1 - sa["rho"][1:], label="Post-LN (e^{-2t})")
    a2.loglog(pre["t"][1:], 1 - pre["rho"][1:], label="Pre-LN (t^{-2})")
    tt = np.logspace(2, 4, 10)
    a2.loglog(tt, 3 / tt ** 2, "k:", label="slope −2")
    a2.set_xlabel("t")
    a2.set_ylabel("1 − ρ(t)")
    a2.set_ylim(1e-12, 2)
    a2.legend(fontsize=7)
    ctx.figure(fig, "equiangular_rates.png",
               "Left: 1 − ρ(t) of the equiangular model per normalisation scheme (lines: reduced "
               "ODE; dots: the engine on 32 tokens in R^32). Right: exponential (Post-LN) against "
               "polynomial (Pre-LN) contraction, [R] §6.2.")
