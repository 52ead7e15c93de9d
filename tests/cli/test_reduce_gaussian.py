"""`attnflow gaussian` and the gaussian_* observables of `attnflow run` (docs/reduced_models.md §1)."""
import csv
import json

import h5py
import numpy as np
import pytest

# Q = K = V = I (the default matrices) in R^2 with softmax: A = beta I, V = I, so
# Sigma(t) = (Sigma0^{-1} - 2 beta t I)^{-1}, blowing up at t* = 1 / (2 beta lambda_max(Sigma0)).
CONFIG = """
[model]
geometry = "euclidean"
kernel = "softmax"
beta = 0.5
[init]
kind = "gaussian"
n = 300
seed = 4
mean = [1.0, 0.5]
cov = [[0.2, 0.05], [0.05, 0.1]]
[integrate]
method = "dopri5"
rtol = 1e-11
atol = 1e-13
t_end = 2.0
[output]
every = 0.5
"""
SIGMA0 = np.array([[0.2, 0.05], [0.05, 0.1]])
T_STAR = 1.0 / (2 * 0.5 * np.linalg.eigvalsh(SIGMA0).max())


def write(tmp_path, text, name="g.toml"):
    (tmp_path / name).write_text(text)
    return name


def read_csv(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}


def test_identity_value_closed_form(tmp_path, run_cli):
    r = run_cli("gaussian", write(tmp_path, CONFIG), "-o", "out")
    assert r.returncode == 0, r.stderr
    data = read_csv(tmp_path / "out" / "gaussian.csv")
    np.testing.assert_array_equal(data["t"], [0.0, 0.5, 1.0, 1.5, 2.0])
    for k, t in enumerate(data["t"]):
        expected = np.linalg.inv(np.linalg.inv(SIGMA0) - 2 * 0.5 * t * np.eye(2))
        got = np.array([[data["cov_0_0"][k], data["cov_0_1"][k]], [data["cov_0_1"][k], data["cov_1_1"][k]]])
        np.testing.assert_allclose(got, expected, rtol=1e-8)
        # normalised covariance and its spectrum are consistent with the covariance itself
        assert data["trace"][k] == pytest.approx(np.trace(expected), rel=1e-8)
        eig = np.sort(np.linalg.eigvalsh(expected / np.trace(expected)))[::-1]
        np.testing.assert_allclose([data["eig_0"][k], data["eig_1"][k]], eig, rtol=1e-7)
        assert data["rank"][k] == 2
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["frames"] == 5 and summary["kernel"] == "softmax"
    assert "final rank" in r.stdout


def test_blow_up_is_detected_with_its_time(tmp_path, run_cli):
    r = run_cli("gaussian", write(tmp_path, CONFIG), "-o", "out", "--set", "integrate.t_end=6.0")
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["status"] == "blowup"
    assert summary["blowup_time"] == pytest.approx(T_STAR, rel=1e-8)
    data = read_csv(tmp_path / "out" / "gaussian.csv")
    assert data["t"].max() < T_STAR and len(data["t"]) == int(T_STAR / 0.5) + 1
    assert "blow-up" in r.stdout


def test_kernels_l2_sinkhorn_and_heads_run(tmp_path, run_cli):
    for extra in ['kernel = "l2"', 'kernel = "sinkhorn"',
                  '[[model.heads]]\nV = [[1, 0], [0, 0.5]]\n[[model.heads]]\nQ = [[0, 1], [1, 0]]']:
        text = CONFIG.replace('kernel = "softmax"\n', "") .replace("beta = 0.5", "beta = 0.5\n" + extra)
        r = run_cli("gaussian", write(tmp_path, text), "-o", "out", "-q", "--set", "integrate.t_end=0.5")
        assert r.returncode == 0, (extra, r.stderr)
        data = read_csv(tmp_path / "out" / "gaussian.csv")
        assert np.all(np.isfinite(data["cov_0_0"])) and len(data["t"]) == 2


BAD = [
    ("not_symmetric", CONFIG.replace("[0.05, 0.1]]", "[0.04, 0.1]]"),
     "error: init.cov: must be symmetric, got |S - S^T| = 0.010000000000000002 (a covariance is a symmetric "
     "positive semi-definite matrix)"),
    ("not_psd", CONFIG.replace("[[0.2, 0.05], [0.05, 0.1]]", "[[0.2, 0.5], [0.5, 0.1]]"),
     "error: init.cov: must be positive semi-definite, smallest eigenvalue is -0.35249378105604445"),
    ("usa", CONFIG.replace('kernel = "softmax"', 'kernel = "usa"'),
     "error: model.kernel: 'usa' attention does not preserve Gaussians ([C]); allowed: softmax, l2, sinkhorn"),
    ("sphere", CONFIG.replace('geometry = "euclidean"', 'geometry = "sphere"').replace(
        'kind = "gaussian"', 'kind = "gaussian"'),
     "error: model.geometry: Gaussian solutions exist in R^d only ([C]); set geometry = \"euclidean\""),
    ("not_gaussian", CONFIG.replace('kind = "gaussian"', 'kind = "points"\npoints = [[1.0, 0.0], [0.0, 1.0]]')
     .replace("mean = [1.0, 0.5]\n", "").replace("cov = [[0.2, 0.05], [0.05, 0.1]]\n", ""),
     "error: init.kind: the Gaussian reduction starts from init.kind = \"gaussian\" (init.mean, init.cov), got "
     "'points'"),
    ("rank_tol", CONFIG + "\n[gaussian]\nrank_tol = 2\n",
     "error: gaussian.rank_tol: must lie in (0, 1) (a fraction of tr S), got 2"),
    ("gaussian_key", CONFIG + "\n[gaussian]\nrank = 2\n",
     "error: gaussian.rank: unknown key; allowed: rank_tol, blowup_ratio"),
]


@pytest.mark.parametrize("name,config,message", BAD, ids=[b[0] for b in BAD])
def test_bad_input(tmp_path, run_cli, name, config, message):
    r = run_cli("gaussian", write(tmp_path, config), "-o", "out")
    assert r.returncode == 2
    assert r.stderr.strip() == message
    assert not (tmp_path / "out").exists()


def bures(m1, s1, m2, s2):
    w, u = np.linalg.eigh(s1)
    r1 = u @ np.diag(np.sqrt(np.clip(w, 0, None))) @ u.T
    cross = np.linalg.eigvalsh(r1 @ s2 @ r1)
    return np.sqrt(max(0.0, np.sum((m1 - m2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.sum(np.sqrt(np.clip(cross, 0, None)))))


def test_particle_run_records_its_distance_to_the_gaussian_solution(tmp_path, run_cli):
    text = CONFIG + '\n'.join(["", 'observables = ["gaussian_w2", "gaussian_mean_error", "gaussian_cov_error"]'])
    r = run_cli("run", write(tmp_path, text), "-o", "out", "-q", "--set", "integrate.t_end=1.0",
                "--set", "integrate.method=rk4", "--set", "integrate.dt=0.05")
    assert r.returncode == 0, r.stderr
    with h5py.File(tmp_path / "out" / "run.h5", "r") as f:
        x = f["x"][:]
        w2, me, ce, t = f["gaussian_w2"][:], f["gaussian_mean_error"][:], f["gaussian_cov_error"][:], f["t"][:]
    m0 = np.array([1.0, 0.5])
    for k in range(len(t)):
        mean = x[k].mean(axis=0)
        cov = np.cov(x[k].T, bias=True)
        if k == 0:  # at t = 0 the reference is the law the tokens were drawn from
            assert w2[0] == pytest.approx(bures(mean, cov, m0, SIGMA0), rel=1e-9)
            assert me[0] == pytest.approx(np.linalg.norm(mean - m0), rel=1e-9)
            assert ce[0] == pytest.approx(np.linalg.norm(cov - SIGMA0), rel=1e-9)
    # sampling error of N = 300 tokens: a few times N^{-1/2} = 0.06, and it stays that size
    assert np.all(w2 < 0.2) and np.all(np.isfinite(w2))


def test_gaussian_observables_need_a_gaussian_start(tmp_path, run_cli):
    text = CONFIG.replace('kind = "gaussian"', 'kind = "uniform_sphere"').replace("mean = [1.0, 0.5]\n", "").replace(
        "cov = [[0.2, 0.05], [0.05, 0.1]]\n", "") + 'observables = ["gaussian_w2"]\n'
    r = run_cli("run", write(tmp_path, text.replace("n = 300", "n = 30\nd = 2")), "-o", "out")
    assert r.returncode == 2
    assert r.stderr.strip() == ("error: output.observables: 'gaussian_w2' compares the tokens with the Gaussian "
                                "solution from init.mean and init.cov: it needs init.kind = \"gaussian\"")
    r = run_cli("run", write(tmp_path, CONFIG.replace('geometry = "euclidean"', 'geometry = "sphere"')
                             + 'observables = ["gaussian_w2"]\n'), "-o", "out")
    assert r.returncode == 2
    assert r.stderr.strip() == ("error: output.observables: 'gaussian_w2' compares with the Gaussian solution of "
                                "[C], which exists for geometry = \"euclidean\" and kernel softmax, l2 or sinkhorn")
