"""`attnflow equiangular` and `attnflow long-context` (docs/reduced_models.md §2-3)."""
import io
import math

import numpy as np
import pytest


def parse(text):
    """Comment lines (# ...) and the CSV below them, as (comments, {column: array})."""
    lines = text.strip().splitlines()
    comments = [l for l in lines if l.startswith("#")]
    body = [l for l in lines if not l.startswith("#")]
    header = body[0].split(",")
    rows = [l.split(",") for l in body[1:]]
    cols = {}
    for k, name in enumerate(header):
        values = [r[k] for r in rows]
        try:
            cols[name] = np.array([float(v) if v != "" else np.nan for v in values])
        except ValueError:
            cols[name] = values
    return comments, cols


def test_beta_zero_closed_form_and_hitting_time(run_cli):
    r = run_cli("equiangular", "--kernel", "sa", "--n", "5", "--beta", "0", "--rho0", "0.2", "--t-end", "3",
                "--points", "6")
    assert r.returncode == 0, r.stderr
    comments, data = parse(r.stdout)
    # rho(t) = (K e^{2t} - 1)/(K e^{2t} + n - 1), K = (1 + (n-1) rho0)/(1 - rho0)
    K = (1 + 4 * 0.2) / 0.8
    e = K * np.exp(2 * data["t"])
    np.testing.assert_allclose(data["rho"], (e - 1) / (e + 4), atol=1e-9)
    assert list(data) == ["t", "rho"]  # Post-LN has no radius column
    hit = float(comments[1].split("hitting_time=")[1].split()[0])
    assert hit == pytest.approx(0.5 * math.log((1 + 4 * 0.999) / (0.001 * K)), rel=1e-9)


@pytest.mark.parametrize("scheme", ["post_ln", "pre_ln", "mix_ln", "peri_ln", "ngpt", "sqrt_scaling"])
def test_particles_follow_the_ode(run_cli, tmp_path, scheme):
    r = run_cli("equiangular", "--kernel", "usa", "--n", "6", "--beta", "1.5", "--rho0", "0.1", "--t-end", "2",
                "--points", "4", "--normalization", scheme, "--r0", "2", "--particles", "-o", "eq.csv")
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    _, data = parse((tmp_path / "eq.csv").read_text())
    np.testing.assert_allclose(data["rho_particles"], data["rho"], atol=1e-8)
    assert np.all(data["spread_particles"] < 1e-12)
    if scheme in ("pre_ln", "mix_ln", "peri_ln"):
        np.testing.assert_allclose(data["r_particles"], data["r"], rtol=1e-8)
        assert data["r"][-1] > 2.0
    assert data["rho"][-1] > 0.3


BAD = [
    (["--n", "1"], "error: --n: the equiangular model needs n >= 2 tokens, got 1"),
    (["--rho0", "1.5"],
     "error: --rho0: must lie in (-1/(n-1), 1] = (-0.25, 1] for n = 5 (at -1/(n-1), the regular simplex, nothing moves), got 1.5"),
    (["--rho0", "-0.3"],
     "error: --rho0: must lie in (-1/(n-1), 1] = (-0.25, 1] for n = 5 (at -1/(n-1), the regular simplex, nothing moves), got -0.3"),
    (["--threshold", "1"], "error: --threshold: must lie in (-1/(n-1), 1) = (-0.25, 1), got 1"),
    (["--normalization", "layer"],
     "error: --normalization: unknown scheme 'layer'; allowed: none, post_ln, pre_ln, mix_ln, peri_ln, ngpt, "
     "sqrt_scaling"),
    (["--normalization", "none"],
     "error: --normalization: the equiangular model needs a normalisation scheme (attention on directions); "
     "allowed: post_ln, pre_ln, mix_ln, peri_ln, ngpt, sqrt_scaling"),
    (["--kernel", "l2"], "error: --kernel: unknown kernel 'l2'; allowed: sa, usa"),
]


@pytest.mark.parametrize("args,message", BAD, ids=[" ".join(b[0]) for b in BAD])
def test_equiangular_bad_input(run_cli, args, message):
    base = {"--kernel": "sa", "--n": "5", "--beta": "1", "--rho0": "0.1", "--t-end": "1"}
    for k in range(0, len(args), 2):
        base[args[k]] = args[k + 1]
    r = run_cli("equiangular", *[x for kv in base.items() for x in kv])
    assert r.returncode == 2
    assert r.stderr.strip() == message


def test_equiangular_particle_start_needs_d_at_least_n(tmp_path, run_cli):
    (tmp_path / "c.toml").write_text('[init]\nkind = "equiangular"\nn = 5\nd = 3\nrho = 0.2\n')
    r = run_cli("run", "c.toml", "-o", "out")
    assert r.returncode == 2
    assert r.stderr.strip() == "error: init.d: equiangular tokens need d >= n (n = 5), got d = 3"


def test_long_context_sweep_shows_three_regimes(run_cli):
    r = run_cli("long-context", "--rho", "0.5", "--n", "10,100,1e6,1e40")
    assert r.returncode == 0, r.stderr
    comments, data = parse(r.stdout)
    assert "gamma_c=1/(1-rho)=2" in comments[0]
    assert sorted(set(data["regime"])) == ["critical", "subcritical", "supercritical"]
    for regime, limit in [("subcritical", 1.0), ("critical", 4 * 0.5 / (1 + 1.5)), ("supercritical", 0.5)]:
        rows = [k for k, g in enumerate(data["regime"]) if g == regime]
        assert data["limit"][rows[0]] == pytest.approx(limit)
        last = rows[-1]  # n = 1e40
        assert data["similarity"][last] == pytest.approx(limit, abs=1e-12)
        # the particle layer (engine, d = n) equals the formula where it was evaluated (n <= 256)
        for k in rows:
            if not np.isnan(data["particle_similarity"][k]):
                assert data["n"][k] <= 256
                assert data["particle_similarity"][k] == pytest.approx(data["similarity"][k], abs=1e-12)
                assert data["particle_spread"][k] < 1e-12


def test_long_context_config_file(tmp_path, run_cli):
    (tmp_path / "s.toml").write_text("[long_context]\nrho = 0.2\nn = [50, 1e9]\ngamma = [1.25]\nresidual = true\n")
    r = run_cli("long-context", "--config", "s.toml", "-o", "lc.csv")
    assert r.returncode == 0, r.stderr
    comments, data = parse((tmp_path / "lc.csv").read_text())
    assert "residual=true" in comments[0]
    assert list(data["regime"]) == ["critical", "critical"]
    assert data["particle_similarity"][0] == pytest.approx(data["similarity"][0], abs=1e-12)


@pytest.mark.parametrize("args,message", [
    (["--rho", "1.5"], "error: --rho: must lie in (-1/(n-1), 1] = (-0.1111111111111111, 1] for n = 10, got 1.5"),
    (["--n", "1"], "error: --n: the long-context layer needs n >= 2 tokens, got 1"),
    (["--n", "ten"], "error: --n: expected a comma-separated list of numbers, got 'ten'"),
    (["--gamma", "-1"], "error: --gamma: must be finite and > 0 (beta = gamma log n), got -1"),
])
def test_long_context_bad_input(run_cli, args, message):
    base = {"--rho": "0.5", "--n": "10"}
    for k in range(0, len(args), 2):
        base[args[k]] = args[k + 1]
    r = run_cli("long-context", *[x for kv in base.items() for x in kv])
    assert r.returncode == 2
    assert r.stderr.strip() == message
