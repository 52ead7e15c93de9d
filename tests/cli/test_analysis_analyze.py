"""`attnflow analyze RUN.h5`: clusters against a NumPy brute force, both search methods agree,
metastability series against NumPy, [B] stationarity, and the bad-input cases."""
import json

import h5py
import numpy as np
import pytest

RUN = """
[model]
beta = 9.0
[init]
kind = "uniform_sphere"
n = 40
d = 3
seed = 3
[integrate]
method = "rk4"
dt = 0.05
t_end = 12.0
[output]
every = 0.25
observables = ["clusters", "normalized_energy"]
cluster_threshold = 1e-3
"""

B_ASCENT = """
# [B] ascent: D = beta Q^T K = diag(2, 1, 0.5), V = +D; tokens start in the cap x1 > 0.
[model]
beta = 1.0
K = [[2, 0, 0], [0, 1, 0], [0, 0, 0.5]]
V = [[2, 0, 0], [0, 1, 0], [0, 0, 0.5]]
[init]
kind = "points"
points = POINTS
[integrate]
method = "rk4"
dt = 0.05
t_end = 40.0
[output]
every = 10.0
"""


def cap_points():
    """Five unit vectors with x1 > 0, written with repr() so they are unit to the last bit."""
    p = np.array([[0.9, 0.3, 0.3], [0.8, -0.5, 0.33], [0.7, 0.1, -0.7], [0.95, 0.2, -0.24], [0.6, -0.6, 0.53]])
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    return "[" + ", ".join("[" + ", ".join(repr(float(v)) for v in row) + "]" for row in p) + "]"


def brute_force_components(x, delta):
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    adj = (u @ u.T) > 1 - delta
    n = len(x)
    label = -np.ones(n, dtype=int)
    count = 0
    for i in range(n):
        if label[i] >= 0:
            continue
        stack = [i]
        label[i] = count
        while stack:
            j = stack.pop()
            for k in np.nonzero(adj[j])[0]:
                if label[k] < 0:
                    label[k] = count
                    stack.append(k)
        count += 1
    links = (np.triu(adj, 1)).sum()
    return count, links / (n * (n - 1) / 2)


@pytest.fixture
def run_file(tmp_path, run_cli):
    (tmp_path / "c.toml").write_text(RUN)
    r = run_cli("run", "c.toml", "-o", "out", "-q")
    assert r.returncode == 0, r.stderr
    return "out/run.h5"


def test_clusters_and_metastability(tmp_path, run_cli, run_file):
    r = run_cli("analyze", run_file)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    spatial = json.loads(run_cli("analyze", run_file, "--clusters", "--method", "spatial").stdout)
    assert spatial["clusters"]["count"] == out["clusters"]["count"]
    assert spatial["clusters"]["pair_fraction"] == out["clusters"]["pair_fraction"]
    with h5py.File(tmp_path / run_file) as f:
        x = f["x"][:]
        t = f["t"][:]
        beta = 9.0
        for k in range(len(t)):
            count, fraction = brute_force_components(x[k], 1e-3)
            assert out["clusters"]["count"][k] == count
            assert out["clusters"]["pair_fraction"][k] == pytest.approx(fraction, abs=1e-15)
            dense = np.mean(np.exp(beta * (x[k] @ x[k].T - 1)))
            assert out["metastability"]["normalized_energy"][k] == pytest.approx(dense, rel=1e-12)
    counts = out["clusters"]["count"]
    assert counts[0] >= 30 and counts[-1] < 10  # informative: clusters form and merge
    m = out["metastability"]
    # Every merge is a decrease between consecutive frames, and the plateaus are constant runs.
    assert len(m["merges"]) == sum(1 for a, b in zip(counts, counts[1:]) if b < a)
    for p in m["cluster_plateaus"]:
        assert len(set(counts[p["first_frame"]:p["last_frame"] + 1])) == 1
        assert p["t_end"] - p["t_start"] >= 0.05 * 12.0
    s = np.array(m["arc_length_time"])
    assert s[0] == 0 and np.all(np.diff(s) >= 0)
    # The chord length is a lower bound of the arc length (up to the trapezoid error of the latter).
    assert m["chord_length_time"][-1] <= s[-1] * 1.01
    assert out["spectra"]["second_moment"]["trace"] == pytest.approx(1.0, abs=1e-12)


def test_stationary_ascent_ends_at_the_top_dirac(tmp_path, run_cli):
    (tmp_path / "b.toml").write_text(B_ASCENT.replace("POINTS", cap_points()))
    assert run_cli("run", "b.toml", "-o", "b", "-q").returncode == 0
    first = json.loads(run_cli("analyze", "b/run.h5", "--stationary", "--frame", "0").stdout)["stationary"]
    last = json.loads(run_cli("analyze", "b/run.h5", "--stationary").stdout)["stationary"]
    assert last["residual"] < 1e-8 * first["residual"]
    best = last["candidates"][last["closest_candidate"]]
    assert best["kind"] == "dirac" and best["eigenvalue"] == pytest.approx(2.0)
    assert best["w2"] < 1e-6
    assert last["energy"] == pytest.approx(0.5 * np.exp(2.0), rel=1e-8)


def test_bad_inputs(tmp_path, run_cli, run_file):
    def error(*args):
        r = run_cli(*args)
        assert r.returncode == 2, (r.stdout, r.stderr)
        return r.stderr

    assert error("analyze", run_file, "--threshold", "2.5") == "error: --threshold: must lie in (0, 2), got 2.5\n"
    assert error("analyze", run_file, "--threshold", "0") == "error: --threshold: must lie in (0, 2), got 0\n"
    assert error("analyze", run_file, "--frame", "99") == "error: --frame: must be -1 (last) or in [0, 48], got 99\n"
    assert error("analyze", run_file, "--method", "kdtree") == \
        "error: --method: unknown method 'kdtree'; allowed: exact, spatial\n"
    (tmp_path / "ns.toml").write_text(RUN.replace("beta = 9.0", "beta = 9.0\nK = [[1, 1, 0], [0, 1, 0], [0, 0, 1]]")
                                      .replace("t_end = 12.0", "t_end = 0.5"))
    assert run_cli("run", "ns.toml", "-o", "ns", "-q").returncode == 0
    assert error("analyze", "ns/run.h5", "--stationary") == (
        "error: --stationary: the [B] analysis needs D = beta Q^T K symmetric; |D - D^T| = 12.727922061357855\n")
    assert error("analyze", "nope.h5") == "error: nope.h5: file not found\n"
    with h5py.File(tmp_path / "no_weights.h5", "w") as f:
        f.attrs["version"] = run_cli("--version").stdout.strip()
        f.create_dataset("t", data=np.zeros(1))
    assert error("analyze", "no_weights.h5") == "error: no_weights.h5: has no dataset /weights\n"


def test_analysis_observables_recorded_by_run(tmp_path, run_cli):
    """speed, largest_cluster, stationarity, anisotropy recorded during a run, against NumPy."""
    text = RUN.replace('observables = ["clusters", "normalized_energy"]',
                       'observables = ["speed", "largest_cluster", "stationarity", "anisotropy"]')
    text = text.replace("t_end = 12.0", "t_end = 6.0").replace("beta = 9.0", "beta = 1.0").replace("every = 0.25", "every = 1.0")
    (tmp_path / "o.toml").write_text(text)
    r = run_cli("run", "o.toml", "-o", "o", "-q")
    assert r.returncode == 0, r.stderr
    beta = 1.0
    with h5py.File(tmp_path / "o" / "run.h5") as f:
        for k in range(len(f["t"])):
            x = f["x"][k]
            n = len(x)
            e = np.exp(beta * x @ x.T)
            a = e / e.sum(axis=1, keepdims=True)  # SA with Q = K = V = I
            v = a @ x
            v -= (v * x).sum(1, keepdims=True) * x
            assert f["speed"][k] == pytest.approx(np.sqrt(np.mean((v ** 2).sum(1))), rel=1e-12)
            g = (e / n) @ (beta * x)  # grad Z(x_i) = sum_j w_j e^{<x_i, D x_j>} D x_j, D = beta I
            g -= (g * x).sum(1, keepdims=True) * x
            assert f["stationarity"][k] == pytest.approx(np.linalg.norm(g, axis=1).max(), rel=1e-12)
            lam = np.linalg.eigvalsh(x.T @ x / n)
            assert f["anisotropy"][k] == pytest.approx(lam.max() / lam.sum(), rel=1e-12)
            count, _ = brute_force_components(x, 1e-3)
            u = x / np.linalg.norm(x, axis=1, keepdims=True)
            adj = (u @ u.T) > 1 - 1e-3
            reach = adj | np.eye(n, dtype=bool)
            for _ in range(6):  # transitive closure by squaring: paths of length up to 2^6 >= n
                reach = (reach.astype(int) @ reach.astype(int)) > 0
            assert f["largest_cluster"][k] == pytest.approx(reach.sum(1).max() / n, abs=1e-15)
        assert f["largest_cluster"][0] < f["largest_cluster"][-1]
    bad = RUN.replace("beta = 9.0", "beta = 9.0\nK = [[1, 1, 0], [0, 1, 0], [0, 0, 1]]").replace(
        'observables = ["clusters", "normalized_energy"]', 'observables = ["stationarity"]')
    (tmp_path / "bad.toml").write_text(bad)
    r = run_cli("run", "bad.toml", "-o", "bad")
    assert r.returncode == 2
    assert r.stderr == ("error: output.observables: the [B] analysis needs D = beta Q^T K symmetric; "
                        "|D - D^T| = 12.727922061357855\n")
