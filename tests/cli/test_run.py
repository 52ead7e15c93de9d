"""End-to-end tests of `attnflow run`: file layout, reproducibility, overrides, NaN handling."""
import json
import math

import h5py
import numpy as np
import pytest

SMALL = """
[model]
geometry = "sphere"
kernel = "softmax"
beta = 1.0
[init]
kind = "uniform_sphere"
n = 40
d = 3
seed = 7
[integrate]
method = "rk4"
dt = 0.05
t_end = 2.0
[output]
every = 0.5
observables = ["energy", "energy_rate", "clusters", "pair_fraction", "mean_cosine"]
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_layout_of_run_file(tmp_path, run_cli):
    write(tmp_path, "c.toml", SMALL)
    r = run_cli("run", "c.toml", "-o", "out")
    assert r.returncode == 0, r.stderr
    with h5py.File(tmp_path / "out" / "run.h5", "r") as f:
        np.testing.assert_array_equal(f["t"][:], [0.0, 0.5, 1.0, 1.5, 2.0])
        assert f["x"].shape == (5, 40, 3)
        assert f["x"].compression == "gzip"
        for name in ["energy", "energy_rate", "clusters", "pair_fraction", "mean_cosine"]:
            assert f[name].shape == (5,)
        assert f.attrs["seed"] == 7
        assert f.attrs["version"] == json.loads(
            (tmp_path / "out" / "summary.json").read_text())["attnflow_version"]
        config = f.attrs["config"]
        config = config.decode() if isinstance(config, bytes) else config
        assert "method = 'rk4'" in config and "seed = 7" in config
        x = f["x"][:]
        # Sphere geometry: every token stays a unit vector.
        np.testing.assert_allclose(np.linalg.norm(x, axis=2), 1.0, atol=1e-12)
        # Energy is E = 1/(2β) Σ_ij w_i w_j e^{β<x_i,x_j>}: recompute it densely from /x.
        for k in range(5):
            dense = 0.5 * np.mean(np.exp(x[k] @ x[k].T))
            assert f["energy"][k] == pytest.approx(dense, rel=1e-12)
        # SA is an energy ascent ([R]).
        assert np.all(np.diff(f["energy"][:]) > 0)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["frames"] == 5
    assert "energy gain" in r.stdout and "final number of clusters" in r.stdout


def test_same_config_gives_bitwise_same_file_for_any_thread_count(tmp_path, run_cli):
    write(tmp_path, "c.toml", SMALL)
    for threads, out in [(1, "a"), (2, "b"), (3, "c")]:
        r = run_cli("run", "c.toml", "-o", out, "--threads", threads, "-q")
        assert r.returncode == 0, r.stderr
    a = (tmp_path / "a" / "run.h5").read_bytes()
    assert a == (tmp_path / "b" / "run.h5").read_bytes()
    assert a == (tmp_path / "c" / "run.h5").read_bytes()
    assert (tmp_path / "a" / "summary.json").read_bytes() == (tmp_path / "b" / "summary.json").read_bytes()


def test_overrides_change_the_run_and_are_recorded(tmp_path, run_cli):
    write(tmp_path, "c.toml", SMALL)
    r = run_cli("run", "c.toml", "-o", "out", "--set", "model.kernel=usa", "--set", "init.n=10",
                "--set", "output.times=[0.25, 2.0]", "-q")
    assert r.returncode == 0, r.stderr
    with h5py.File(tmp_path / "out" / "run.h5", "r") as f:
        np.testing.assert_array_equal(f["t"][:], [0.25, 2.0])  # t = 0 not requested: not written
        assert f["x"].shape == (2, 10, 3)
        assert f.attrs["kernel"] in ("usa", b"usa")


def test_points_start_and_euler_layer_is_one_residual_step(tmp_path, run_cli):
    """euler with dt = 1 in R^d is exactly x + Attention(x): check one layer against NumPy."""
    x0 = np.array([[0.3, -1.0], [1.2, 0.4], [-0.5, 0.9]])
    write(tmp_path, "c.toml", f"""
[model]
geometry = "euclidean"
beta = 0.7
Q = [[1.0, 0.5], [0.0, 2.0]]
K = [[0.3, 0.0], [1.0, 1.0]]
V = [[0.5, -1.0], [2.0, 0.25]]
[init]
kind = "points"
points = {x0.tolist()}
[integrate]
method = "euler"
dt = 1.0
t_end = 1.0
[output]
times = [0.0, 1.0]
observables = []
""")
    r = run_cli("run", "c.toml", "-o", "out", "-q")
    assert r.returncode == 0, r.stderr
    Q = np.array([[1.0, 0.5], [0.0, 2.0]])
    K = np.array([[0.3, 0.0], [1.0, 1.0]])
    V = np.array([[0.5, -1.0], [2.0, 0.25]])
    s = 0.7 * (x0 @ Q.T) @ (x0 @ K.T).T
    a = np.exp(s - s.max(axis=1, keepdims=True))
    a /= a.sum(axis=1, keepdims=True)
    expected = x0 + a @ (x0 @ V.T)
    with h5py.File(tmp_path / "out" / "run.h5", "r") as f:
        np.testing.assert_allclose(f["x"][1], expected, rtol=1e-14, atol=1e-14)


def test_file_start_reads_npy(tmp_path, run_cli):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(12, 4))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    np.save(tmp_path / "x0.npy", x.astype(np.float32))
    write(tmp_path, "c.toml", '[init]\nkind = "file"\npath = "x0.npy"\n[integrate]\nt_end = 0.0\n'
          '[output]\nobservables = []\n')
    # float32 input is not unit-norm to 1e-9 in double: the sphere check must say so.
    r = run_cli("run", "c.toml", "-o", "out")
    assert r.returncode == 2 and "geometry 'sphere' needs unit vectors" in r.stderr
    np.save(tmp_path / "x0.npy", x)
    r = run_cli("run", "c.toml", "-o", "out", "-q")
    assert r.returncode == 0, r.stderr
    with h5py.File(tmp_path / "out" / "run.h5", "r") as f:
        np.testing.assert_array_equal(f["x"][0], x)


def test_nan_run_keeps_good_frames_and_exits_3(tmp_path, run_cli):
    """USA in R^d with spread-out Gaussian tokens blows up (e^{β<x,y>} grows without bound)."""
    write(tmp_path, "c.toml", """
[model]
geometry = "euclidean"
kernel = "usa"
beta = 5.0
[init]
kind = "gaussian"
n = 50
d = 3
cov = [[9, 0, 0], [0, 9, 0], [0, 0, 9]]
[integrate]
method = "euler"
dt = 0.5
t_end = 10.0
[output]
every = 0.5
observables = ["clusters"]
""")
    r = run_cli("run", "c.toml", "-o", "out")
    assert r.returncode == 3
    assert r.stderr.startswith("error: integrate: the state became non-finite (NaN or infinity) at t = ")
    assert r.stderr.count("\n") == 1
    with h5py.File(tmp_path / "out" / "run.h5", "r") as f:
        assert f["t"].shape[0] >= 1
        assert np.all(np.isfinite(f["x"][:]))
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["status"].startswith("failed: integrate:")


def test_dopri5_hits_output_times_exactly(tmp_path, run_cli):
    write(tmp_path, "c.toml", SMALL.replace('method = "rk4"', 'method = "dopri5"\nrtol = 1e-7'))
    r = run_cli("run", "c.toml", "-o", "out", "-q", "--set", "output.times=[0.1, 0.7, 1.3, 2.0]")
    assert r.returncode == 0, r.stderr
    with h5py.File(tmp_path / "out" / "run.h5", "r") as f:
        assert list(f["t"][:]) == [0.1, 0.7, 1.3, 2.0]


def test_info_and_bench_print_json(run_cli):
    r = run_cli("info")
    assert r.returncode == 0
    info = json.loads(r.stdout)
    assert {"version", "compiler", "simd", "threads", "features"} <= info.keys()
    assert "softmax" in info["kernels"]
    r = run_cli("bench", "velocity", "--n", "512", "--d", "3", "--min-seconds", "0.01")
    assert r.returncode == 0, r.stderr
    bench = json.loads(r.stdout)
    assert {"pairs_per_second", "seconds", "n", "d"} <= bench.keys()
    assert bench["n"] == 512 and bench["pairs_per_second"] > 0 and math.isfinite(bench["seconds"])


def test_bench_batch_systems_are_attnflow_runs(tmp_path, run_cli):
    """`bench batch` steps system s exactly as `attnflow run` with init.seed = seed + s does
    (bitwise, for any thread count), and that step is the Euler layer the peers
    (bench/peers/batch_peers.py) compute: x <- LN(x + dt softmax(beta x x^T) x)."""
    common = ["bench", "batch", "--n", "12", "--d", "5", "--systems", "3", "--steps", "4", "--dt", "0.25",
              "--beta", "2", "--seed", "5", "--repeats", "1"]
    for method in ["euler", "rk4"]:
        finals = []
        for threads in ["1", "2", "3"]:
            r = run_cli(*common, "--method", method, "--threads", threads, "--output", f"{method}{threads}.npy")
            assert r.returncode == 0, r.stderr
            bench = json.loads(r.stdout)
            assert bench["systems"] == 3 and bench["system_steps_per_second"] > 0
            finals.append(np.load(tmp_path / f"{method}{threads}.npy"))
        assert finals[0].shape == (3, 12, 5)
        for f in finals[1:]:
            np.testing.assert_array_equal(f, finals[0])
        for s in range(3):
            write(tmp_path, "c.toml", f"""
[model]
geometry = "sphere"
beta = 2
[init]
kind = "uniform_sphere"
n = 12
d = 5
seed = {5 + s}
[integrate]
method = "{method}"
dt = 0.25
t_end = 1.0
[output]
every = 1.0
observables = []
""")
            r = run_cli("run", "c.toml", "-o", f"run{s}", "-q")
            assert r.returncode == 0, r.stderr
            with h5py.File(tmp_path / f"run{s}" / "run.h5", "r") as f:
                x = f["x"][:]
            np.testing.assert_array_equal(finals[0][s], x[-1])
            if method == "euler":
                y = x[0]
                for _ in range(4):
                    a = np.exp(2 * (y @ y.T) - (2 * (y @ y.T)).max(axis=1, keepdims=True))
                    y = y + 0.25 * (a / a.sum(axis=1, keepdims=True)) @ y
                    y /= np.linalg.norm(y, axis=1, keepdims=True)
                np.testing.assert_allclose(x[-1], y, rtol=0, atol=1e-13)
