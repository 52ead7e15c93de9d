"""[R] long-context phase transition: output similarity of one layer with beta = gamma log n."""
import csv
import io
import math


def run(ctx):
    config = ctx.experiment("R_long_context_phase_transition.toml")
    text = ctx.cli("long-context", "--config", config).stdout
    (ctx.out / "long_context.csv").write_text(text)
    ctx.files.append("long_context.csv")
    rows = list(csv.DictReader(line for line in io.StringIO(text) if not line.startswith("#")))
    num = {k: float for k in ("n", "gamma_over_critical", "similarity", "limit")}
    for r in rows:
        for k, f in num.items():
            r[k] = f(r[k])

    def at(n, g):
        return next(r["similarity"] for r in rows if r["n"] == n and r["gamma_over_critical"] == g)

    n_max = max(r["n"] for r in rows)
    ctx.value("similarity_sub", at(n_max, 0.5))
    ctx.value("similarity_critical", at(n_max, 1.0))
    ctx.value("similarity_super", at(n_max, 2.0))
    engine = [r for r in rows if r["particle_similarity"] != ""]
    if not engine:
        raise RuntimeError("the long-context run evaluated no engine layers")
    ctx.value("engine_vs_formula",
              max(abs(float(r["particle_similarity"]) - r["similarity"]) for r in engine))
    ctx.value("engine_max_spread", max(float(r["particle_spread"]) for r in engine))

    fig, ax = ctx.subplots(figsize=(6.4, 4.2))
    rho = 0.5
    for g in sorted({r["gamma_over_critical"] for r in rows}):
        sel = [r for r in rows if r["gamma_over_critical"] == g]
        line, = ax.semilogx([r["n"] for r in sel], [r["similarity"] for r in sel],
                            label=f"γ/γc = {g:g}")
        pts = [r for r in sel if r["particle_similarity"] != ""]
        ax.semilogx([r["n"] for r in pts], [float(r["particle_similarity"]) for r in pts], "o",
                    color=line.get_color(), ms=4)
    for y, name in ((1.0, "1"), (4 * rho / (1 + 3 * rho), "4ρ/(1+3ρ)"), (rho, "ρ")):
        ax.axhline(y, color="0.5", ls=":", lw=0.8)
        ax.text(1.5e40, y, name, va="center", fontsize=8)
    ax.set_xlabel("sequence length n")
    ax.set_ylabel("output similarity")
    ax.set_title(f"one layer, β = γ log n, equiangular ρ = {rho} (γc = {1 / (1 - rho):g})")
    ax.legend(fontsize=7, ncol=2)
    ctx.figure(fig, "long_context.png",
               "Output similarity of one softmax layer against n for several γ/γc (lines: exact "
               "finite-n formula; dots: the attention engine on explicit tokens, n ≤ 300); dotted: "
               "[R]'s limits 1, 4ρ/(1+3ρ), ρ.")
    assert math.isfinite(n_max)
