"""[B] Figure 2: one vs two clusters of the ascent on S^1 as the anisotropy of D = diag(dd, 1) varies.

The ascent of E(mu) = 1/2 iint e^{<x,Dy>} dmu dmu ends either in one cluster (a Dirac on the top
eigenvector, the maximiser) or in an antipodal pair p delta_v + (1-p) delta_{-v} (stationary for
every p, [B] Section 4). Which one is decided by the basin of attraction; what can be *derived* is
where an antipodal pair can attract at all: its linearisation (below, `pair_is_stable`) is negative
definite only for |ln(dd)| large enough and p not too small. Where no pair is stable, every run must
end in one cluster; that window, tanh(1) < dd < dd_+ (dd_+ solves (dd-1)/(dd+1) = e^{-2 dd}), is
exactly where the authors' published counts are 100/100 single clusters.

Linearisation (derived here, independently of the engine): two clusters of masses p, q = 1-p at
+-v (v the eigenvector of eigenvalue lam, mu the other eigenvalue), rotated by angles a, b. The
second-order part of E is a^2 [-p^2 e^lam (lam-mu) + pq e^-lam lam] + b^2 [same with q] -
2 pq e^-lam mu a b; tokens moving apart inside a cluster have the coefficient
lam (n_- e^-lam - n_+ e^lam) (negative iff p e^lam > q e^-lam). The pair is a strict local maximum
(for the motions that do not change its support: all motions on S^1) iff both are negative.
"""
from __future__ import annotations

import math

import numpy as np

# Counts behind [B] Figure 2, from the authors' results file exps/results/split_eval/CC.txt
# (TimRoith/TransformerDynamics): dd = linspace(0, 1.5, 20), 100 runs each, columns "one cluster",
# "two clusters" (their k-means classification; no run was classified otherwise).
PUBLISHED_DD = np.linspace(0.0, 1.5, 20)
PUBLISHED_ONE = np.array([0, 1, 0, 1, 2, 2, 5, 8, 16, 50, 100, 100, 100, 100, 100, 100, 45, 6, 3, 1])
PUBLISHED_RUNS = 100


def pair_is_stable(dd: float, p: float) -> bool:
    """Whether p delta_v + (1-p) delta_{-v} on the top eigenvector of diag(dd, 1) is a strict local
    maximum of E on S^1 (linearisation in the module docstring)."""
    lam, mu = (1.0, dd) if dd <= 1.0 else (dd, 1.0)
    q = 1.0 - p
    a, b = math.exp(lam), math.exp(-lam)
    if not (p * a > q * b and q * a > p * b):
        return False
    m = np.array([[-p * p * a * (lam - mu) + p * q * b * lam, -p * q * b * mu],
                  [-p * q * b * mu, -q * q * a * (lam - mu) + p * q * b * lam]])
    return bool(np.all(np.linalg.eigvalsh(m) < 0.0))


def stable_split_range(dd: float, grid: int = 2001):
    """(p_min, p_max) of the splits p for which the pair is stable, or None."""
    ps = np.linspace(0.0, 1.0, grid)[1:-1]
    st = [p for p in ps if pair_is_stable(dd, p)]
    return (min(st), max(st)) if st else None


def _bisect(f, lo, hi, iters=200):
    flo = f(lo)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        if (f(mid) > 0) == (flo > 0):
            lo, flo = mid, f(mid)
        else:
            hi = mid
    return 0.5 * (lo + hi)


def unstable_window():
    """(dd_-, dd_+): no antipodal pair is stable for dd_- < dd < dd_+ (p = 1/2 is the most stable
    split, so the window is where p = 1/2 fails: e^lam (lam - mu) > e^-lam (lam + mu))."""
    lower = math.tanh(1.0)                        # lam = 1, mu = dd: (1-dd)/(1+dd) = e^-2
    upper = _bisect(lambda d: (d - 1.0) / (d + 1.0) - math.exp(-2.0 * d), 1.0 + 1e-9, 3.0)
    return lower, upper


def _sweep(ctx, config, dd, seeds, tag):
    import h5py
    out = ctx.out / "sweeps" / tag
    mat = f"[[{dd!r},0.0],[0.0,1.0]]"
    ctx.cli("sweep", config, "-o", out, "-q", "--threads", ctx.threads,
            "--set", f"model.K={mat}", "--set", f"model.V={mat}")
    with h5py.File(out / "sweep.h5", "r") as f:
        clusters = np.asarray(f["clusters"][:, -1])
        largest = np.asarray(f["largest_cluster"][:, -1])
        energy = np.asarray(f["energy_b"][:, -1])
    assert clusters.shape[0] == seeds
    return clusters, largest, energy


def _continue(ctx, config, dd, seed, t_end=1500.0):
    """Clusters at t_end of the system (dd, seed) of the sweep."""
    import attnflow as af
    out = ctx.out / "continued" / f"dd{dd:.4f}_seed{seed}"
    mat = f"[[{dd!r},0.0],[0.0,1.0]]"
    ctx.cli("run", config, "-o", out, "-q", "--threads", ctx.threads, "--set", f"init.seed={seed}",
            "--set", f"integrate.t_end={t_end!r}", "--set", f"output.times=[{t_end!r}]",
            "--set", f"model.K={mat}", "--set", f"model.V={mat}")
    return int(round(float(af.load(out).clusters[-1])))


def run(ctx):
    seeds = 24 if ctx.quick else PUBLISHED_RUNS
    idx = [0, 6, 12, 14, 19] if ctx.quick else list(range(len(PUBLISHED_DD)))
    base = ctx.experiment("B_cluster_statistics.toml")
    text = base.read_text()
    assert "range = [1, 101]" in text
    config = ctx.out / "B_cluster_statistics.toml"   # the experiment with `seeds` systems per dd
    config.write_text(text.replace("range = [1, 101]", f"range = [1, {seeds + 1}]"))

    run_config = ctx.out / "B_cluster_statistics_run.toml"   # one system: the [sweep] table removed
    run_config.write_text(text.split("[sweep]")[0])
    lower, upper = unstable_window()
    rows, in_window_two, splits_ok, splits_all, outliers = [], 0, 0, 0, []
    z_max = 0.0
    per_dd = {}
    for i in idx:
        dd = float(PUBLISHED_DD[i])
        clusters, largest, energy = _sweep(ctx, config, dd, seeds, f"dd{i:02d}")
        one = int(np.sum(clusters == 1))
        two = int(np.sum(clusters == 2))
        other = seeds - one - two
        p_two = two / seeds
        se = math.sqrt(max(p_two * (1 - p_two), 0.0) / seeds)
        rng = stable_split_range(dd)
        for seed, (c, big) in enumerate(zip(clusters, largest), start=1):
            if c == 2:
                splits_all += 1
                split = 1.0 - big
                if rng is not None and rng[0] - 1e-12 <= split <= rng[1] + 1e-12:
                    splits_ok += 1
                else:
                    # A pair outside the stable range is unstable, but near the range's edge its
                    # growth rate is small and t = 150 may not suffice: continue it to t = 1500
                    # and require that it leaves the pair (one cluster).
                    outliers.append([dd, seed, split, rng[0] if rng else "", rng[1] if rng else "",
                                     _continue(ctx, run_config, dd, seed)])
                    if outliers[-1][-1] == 1:
                        splits_ok += 1
        if lower < dd < upper:
            in_window_two += two + other
        pub_two = 1.0 - PUBLISHED_ONE[i] / PUBLISHED_RUNS
        pooled = (two + (PUBLISHED_RUNS - PUBLISHED_ONE[i])) / (seeds + PUBLISHED_RUNS)
        sd = math.sqrt(pooled * (1 - pooled) * (1 / seeds + 1 / PUBLISHED_RUNS))
        z = 0.0 if sd == 0 else (p_two - pub_two) / sd
        z_max = max(z_max, abs(z))
        per_dd[i] = p_two
        rows.append([dd, seeds, one, two, other, p_two, se, pub_two,
                     rng[0] if rng else "", rng[1] if rng else "", z,
                     float(np.mean(energy))])

    ctx.csv("clusters_vs_anisotropy.csv",
            ["dd", "runs", "one_cluster", "two_clusters", "other", "p_two", "se_p_two",
             "published_p_two", "stable_split_min", "stable_split_max", "z_vs_published",
             "mean_energy_b"], rows)
    ctx.value("two_cluster_runs_in_unstable_window", in_window_two)
    ctx.value("p_two_clusters_dd0", per_dd[0])
    ctx.value("two_cluster_splits_in_stable_range",
              splits_ok / splits_all if splits_all else float("nan"))
    ctx.value("max_abs_z_vs_published", z_max)
    ctx.value("two_cluster_outcomes_outside_stable_range_at_t150", len(outliers))
    ctx.csv("pairs_outside_stable_range.csv", ["dd", "seed", "split_p_at_t150", "stable_split_min",
                                               "stable_split_max", "clusters_at_t1500"], outliers)
    ctx.value("window_lower_tanh1", lower)
    ctx.value("window_upper", upper)
    ctx.json("details.json", {"seeds_per_dd": seeds, "unstable_window": [lower, upper],
                               "two_cluster_outcomes": splits_all})

    fig, ax = ctx.subplots(figsize=(6.4, 3.8))
    dds = np.array([r[0] for r in rows])
    ax.axvspan(lower, upper, color="0.9", label="no antipodal pair stable (derived)")
    ax.errorbar(dds, [r[5] for r in rows], yerr=[2 * r[6] for r in rows], fmt="o-", ms=4,
                capsize=2, label=f"attnflow ({seeds} runs, ±2 s.e.)")
    ax.plot(PUBLISHED_DD, 1.0 - PUBLISHED_ONE / PUBLISHED_RUNS, "s--", ms=3, color="C3",
            label="[B] published (100 runs)")
    ax.set_xlabel("dd  (D = diag(dd, 1))")
    ax.set_ylabel("fraction of runs ending in two clusters")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(fontsize=8, loc="lower left")
    ctx.figure(fig, "clusters_vs_anisotropy.png",
               "Fraction of ascents (100 tokens on S^1, D = diag(dd, 1), t = 150) ending in an "
               "antipodal pair rather than one cluster, against dd; [B] Figure 2 (the authors' "
               "counts in red). Shaded: the window where the linearisation shows that no antipodal "
               "pair is a local maximum, so every run must end in one cluster.")
