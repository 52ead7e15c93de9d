"""Bad input: one line `error: <key>: <what is wrong, what is allowed>`, exit 2, nothing written."""
import json

import numpy as np
import pytest

VALID = """
[model]
geometry = "sphere"
beta = 1.0
[init]
kind = "uniform_sphere"
n = 8
d = 3
[integrate]
method = "rk4"
dt = 0.1
t_end = 0.2
"""

CASES = [
    ("malformed", "[model\n", "error: config: TOML parse error at line 1, column 7: "
     "Error while parsing table header: expected ']', saw '\\n'"),
    ("unknown_key", VALID.replace("beta = 1.0", "beta = 1.0\nbetta = 2"),
     "error: model.betta: unknown key; allowed: geometry, kernel, beta, Q, K, V, W, heads, causal, "
     "sigmoid_bias, sinkhorn_iters, sinkhorn_tol, normalization, mix_tau, ngpt_alpha, noise, noise_seed, "
     "head_normalization, precision"),
    ("unknown_section", VALID + "\n[solver]\nx = 1\n",
     "error: solver: unknown section; allowed: model, init, integrate, output"),
    ("negative_beta", VALID.replace("beta = 1.0", "beta = -1"), "error: model.beta: must be finite and > 0, got -1"),
    ("zero_beta", VALID.replace("beta = 1.0", "beta = 0"), "error: model.beta: must be finite and > 0, got 0"),
    ("nan_beta", VALID.replace("beta = 1.0", "beta = nan"), "error: model.beta: must be finite and > 0, got nan"),
    ("beta_string", VALID.replace("beta = 1.0", 'beta = "one"'), "error: model.beta: must be a number, got a string"),
    ("wrong_shape", VALID.replace("beta = 1.0", "beta = 1.0\nQ = [[1, 0], [0, 1]]"),
     "error: model.Q: must have d = 3 columns, got 2x2"),
    ("ragged", VALID.replace("beta = 1.0", "beta = 1.0\nV = [[1, 0, 0], [0, 1]]"),
     "error: model.V: rows must all have the same length: row 0 has 3 entries, row 1 has 2"),
    ("inf_entry", VALID.replace("beta = 1.0", "beta = 1.0\nK = [[1, 0, 0], [0, inf, 0], [0, 0, 1]]"),
     "error: model.K[1][1]: must be a finite number, got inf"),
    ("head_w_shape", VALID.replace("beta = 1.0", "beta = 1.0\n[[model.heads]]\nV = [[1, 0, 0]]\nW = [[1, 0]]"),
     "error: model.heads[0].W: must be 3x1 (d x rows of V), got 1x2"),
    ("bad_kernel", VALID.replace("beta = 1.0", 'beta = 1.0\nkernel = "cosine"'),
     "error: model.kernel: unknown kernel 'cosine'; allowed: softmax, usa, l2, sigmoid, sinkhorn, hardmax"),
    ("bad_geometry", VALID.replace('geometry = "sphere"', 'geometry = "torus"'),
     "error: model.geometry: unknown geometry 'torus'; allowed: euclidean, sphere, circle"),
    ("n_zero", VALID.replace("n = 8", "n = 0"), "error: init.n: must be at least 1, got 0"),
    ("bad_method", VALID.replace('method = "rk4"', 'method = "leapfrog"'),
     "error: integrate.method: unknown method 'leapfrog'; allowed: euler, rk4, dopri5"),
    ("negative_dt", VALID.replace("dt = 0.1", "dt = -0.1"), "error: integrate.dt: must be finite and > 0, got -0.1"),
    ("off_sphere", VALID.replace('kind = "uniform_sphere"\nn = 8\nd = 3',
                                 'kind = "points"\npoints = [[1, 0, 0], [0, 2, 0]]'),
     "error: init: token 1 has norm 2; geometry 'sphere' needs unit vectors (|x| = 1 within 1e-9)"),
    ("missing_file", VALID.replace('kind = "uniform_sphere"', 'kind = "file"\npath = "missing.npy"'),
     "error: init.path: file not found: 'missing.npy'"),
    ("bad_observable", VALID + '\n[output]\nobservables = ["entropy"]\n',
     "error: output.observables: unknown observable 'entropy'; allowed: {observables}"),
    ("threshold", VALID + "\n[output]\ncluster_threshold = 2.5\n",
     "error: output.cluster_threshold: must lie in (0, 2), got 2.5"),
    ("energy_causal", VALID.replace("beta = 1.0", "beta = 1.0\ncausal = true") + '\n[output]\nobservables = ["energy"]\n',
     "error: output.observables: 'energy' is defined for unmasked attention only (model.causal = true)"),
    ("times_range", VALID + "\n[output]\ntimes = [0.1, 5.0]\n",
     "error: output.times: must lie in [0, integrate.t_end] = [0, 0.2], got 5"),
    ("cov_not_psd", VALID.replace('kind = "uniform_sphere"', 'kind = "gaussian"\ncov = [[1, 0, 0], [0, -1, 0], [0, 0, 1]]')
     .replace('geometry = "sphere"', 'geometry = "euclidean"'),
     "error: init.cov: must be positive semi-definite, smallest eigenvalue is -1"),
    ("cov_not_symmetric", VALID.replace('kind = "uniform_sphere"', 'kind = "gaussian"\ncov = [[1, 0.5, 0], [0, 1, 0], [0, 0, 1]]')
     .replace('geometry = "sphere"', 'geometry = "euclidean"'),
     "error: init.cov: must be symmetric"),
    ("equiangular_d", VALID.replace('kind = "uniform_sphere"', 'kind = "equiangular"\nrho = 0.5'),
     "error: init.d: equiangular tokens need d >= n (n = 8), got d = 3"),
    ("residual_with_noise", VALID.replace('method = "rk4"', 'method = "euler"')
     .replace("beta = 1.0", "beta = 1.0\nnoise = 0.1") + '\n[output]\nobservables = ["dissipation_residual"]\n',
     "error: output.observables: 'dissipation_residual' integrates the chain rule along a deterministic path; "
     "with model.noise > 0 Ito's formula adds a term it does not contain"),
    ("head_normalization", VALID.replace("beta = 1.0", 'beta = 1.0\nhead_normalization = "joint"'),
     "error: model.head_normalization: unknown head normalization 'joint'; allowed: per_head, shared"),
    ("precision", VALID.replace("beta = 1.0", 'beta = 1.0\nprecision = "float16"'),
     "error: model.precision: unknown precision 'float16'; allowed: float64, float32"),
    ("precision_type", VALID.replace("beta = 1.0", "beta = 1.0\nprecision = 32"),
     "error: model.precision: must be a string, got an integer"),
    ("precision_sinkhorn", VALID.replace("beta = 1.0", 'beta = 1.0\nkernel = "sinkhorn"\nprecision = "float32"'),
     "error: model.precision: 'float32' is not available with the sinkhorn kernel (its potentials are "
     "iterated to model.sinkhorn_tol in float64); use float64"),
    ("shared_usa", VALID.replace("beta = 1.0", 'beta = 1.0\nkernel = "usa"\nhead_normalization = "shared"'),
     "error: model.head_normalization: 'shared' normalises one softmax over all heads and needs kernel "
     "softmax or l2, got 'usa'"),
    ("relaxation_initial", VALID.replace("beta = 1.0", 'beta = 1.0\nK = { kind = "relaxation", base = '
                                         '[[1, 0, 0], [0, 1, 0], [0, 0, 1]], amplitude = [[1, 0, 0], [0, 1, 0], [0, 0, 1]] }'),
     'error: model.K.initial: is required for kind = "relaxation"'),
    ("sinusoid_omega_shape", VALID.replace("beta = 1.0", 'beta = 1.0\nK = { kind = "sinusoid", base = '
                                           '[[1, 0, 0], [0, 1, 0], [0, 0, 1]], amplitude = [[1, 0, 0], [0, 1, 0], [0, 0, 1]], '
                                           'omega = [[1, 2], [2, 1]] }'),
     "error: model.K.omega: must have the shape of the first matrix (3x3), got 2x2"),
]


@pytest.mark.parametrize("name,config,message", CASES, ids=[c[0] for c in CASES])
def test_bad_config(tmp_path, run_cli, name, config, message):
    (tmp_path / "c.toml").write_text(config)
    r = run_cli("run", "c.toml", "-o", "out")
    assert r.returncode == 2, (r.stdout, r.stderr)
    # The allowed observables are the registry's, as `attnflow info` lists them.
    registry = ", ".join(json.loads(run_cli("info").stdout)["observables"])
    assert r.stderr == message.replace("{tmp}", str(tmp_path)).replace("{observables}", registry) + "\n"
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_wrong_dtype_file(tmp_path, run_cli):
    np.save(tmp_path / "x.npy", np.zeros((4, 3), dtype=np.int32))
    (tmp_path / "c.toml").write_text(VALID.replace('kind = "uniform_sphere"', 'kind = "file"\npath = "x.npy"'))
    r = run_cli("run", "c.toml", "-o", "out")
    assert r.returncode == 2
    assert r.stderr == "error: init.path: dtype '<i4' is not supported; allowed: float64 ('<f8') or float32 ('<f4')\n"


def test_bad_override(tmp_path, run_cli):
    (tmp_path / "c.toml").write_text(VALID)
    r = run_cli("run", "c.toml", "-o", "out", "--set", "model.beta")
    assert r.returncode == 2
    assert r.stderr == "error: --set: expected section.key=value, got 'model.beta'\n"
    r = run_cli("run", "c.toml", "-o", "out", "--set", "model.beta=-3")
    assert r.stderr == "error: model.beta: must be finite and > 0, got -3\n"


def test_missing_config_and_arguments(tmp_path, run_cli):
    r = run_cli("run", "nope.toml", "-o", "out")
    assert r.returncode == 2
    assert r.stderr == "error: config: cannot read 'nope.toml': no such file or not readable\n"
    r = run_cli("run", "nope.toml")
    assert r.returncode == 2
    assert r.stderr == "error: command line: --output is required (see attnflow --help)\n"


def test_failed_run_does_not_touch_previous_results(tmp_path, run_cli):
    (tmp_path / "c.toml").write_text(VALID)
    assert run_cli("run", "c.toml", "-o", "out", "-q").returncode == 0
    before = (tmp_path / "out" / "run.h5").read_bytes()
    (tmp_path / "bad.toml").write_text(VALID.replace("beta = 1.0", "beta = -1"))
    assert run_cli("run", "bad.toml", "-o", "out").returncode == 2
    assert (tmp_path / "out" / "run.h5").read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["run.h5", "summary.json"]


BENCH_CASES = [
    (["bench", "batch", "--systems", "0"], "error: --systems: must be at least 1, got 0"),
    (["bench", "batch", "--steps", "-2"], "error: --steps: must be at least 1, got -2"),
    (["bench", "batch", "--d", "1"], "error: --d: must be at least 2, got 1"),
    (["bench", "batch", "--dt", "0"], "error: --dt: must be finite and > 0, got 0"),
    (["bench", "batch", "--method", "leapfrog"],
     "error: --method: unknown method 'leapfrog'; allowed: euler, rk4, dopri5"),
    (["bench", "batch", "--method", "dopri5"],
     "error: --method: must be a fixed-step method: euler or rk4, got 'dopri5'"),
    (["bench", "roofline", "--n", "0"], "error: --n: must be at least 1, got 0"),
    (["bench", "roofline", "--d", "3", "0"], "error: --d: must be at least 1, got 0"),
    (["bench", "roofline", "--min-seconds", "-1"], "error: --min-seconds: must be finite and > 0, got -1"),
    (["bench", "roofline", "--threads", "-1"], "error: --threads: must be at least 0, got -1"),
]


@pytest.mark.parametrize("args,message", BENCH_CASES, ids=[" ".join(c[0][1:]) for c in BENCH_CASES])
def test_bad_bench_options(run_cli, args, message):
    r = run_cli(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr == message + "\n"
    assert r.stdout == ""
