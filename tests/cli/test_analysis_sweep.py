"""`attnflow sweep` and `attnflow stability`: output layout, agreement with single runs,
reproducibility across thread counts, bad input."""
import json

import h5py
import numpy as np
import pytest

SWEEP = """
[model]
beta = 1.0
[init]
kind = "uniform_sphere"
n = 10
d = 4
seed = 0
[integrate]
method = "rk4"
dt = 0.1
t_end = 3.0
[output]
every = 0.5
trajectory = false
observables = ["pair_fraction", "clusters"]
cluster_threshold = 0.05
[sweep]
batch = "init.seed"
quantiles = [0.1, 0.5, 0.9]
keep_systems = true
[[sweep.axis]]
key = "model.beta"
linspace = [0.5, 6.0, 3]
[[sweep.axis]]
key = "init.seed"
range = [1, 7]
"""


def test_sweep_layout_matches_runs_and_is_reproducible(tmp_path, run_cli):
    (tmp_path / "s.toml").write_text(SWEEP)
    r1 = run_cli("sweep", "s.toml", "-o", "one", "--threads", "1")
    assert r1.returncode == 0, r1.stderr
    r2 = run_cli("sweep", "s.toml", "-o", "two", "--threads", "2", "-q")
    assert r2.returncode == 0 and r2.stdout == ""
    with h5py.File(tmp_path / "one" / "sweep.h5") as f, h5py.File(tmp_path / "two" / "sweep.h5") as g:
        assert f.attrs["kind"] == "sweep" and f.attrs["batch"] == "init.seed"
        np.testing.assert_array_equal(f["t"][:], np.arange(0, 3.01, 0.5))
        np.testing.assert_array_equal(f["model.beta"][:], [0.5, 3.25, 6.0])
        np.testing.assert_array_equal(f["init.seed"][:], np.arange(1, 7))
        assert f["pair_fraction"].shape == (3, 6, 7)
        for stat in ["mean", "q10", "median", "q90"]:
            assert f[f"pair_fraction.{stat}"].shape == (3, 7)
        for name in f.keys():
            np.testing.assert_array_equal(f[name][:], g[name][:])  # bitwise, any thread count
        pf = f["pair_fraction"][:]
        np.testing.assert_allclose(f["pair_fraction.mean"][:], pf.mean(axis=1), rtol=1e-15, atol=0)
        np.testing.assert_allclose(f["pair_fraction.q10"][:], np.quantile(pf, 0.1, axis=1), rtol=1e-15, atol=1e-17)
        np.testing.assert_array_equal(f["clusters.median"][:], np.median(f["clusters"][:], axis=1))
        assert pf[0, :, -1].mean() > pf[2, :, -1].mean()  # small beta clusters faster ([R] phase diagram)
        # One system against `attnflow run` of the same configuration.
        (tmp_path / "c.toml").write_text(SWEEP.split("[sweep]")[0])
        assert run_cli("run", "c.toml", "-o", "single", "-q", "--set", "model.beta=6.0",
                       "--set", "init.seed=4").returncode == 0
        with h5py.File(tmp_path / "single" / "run.h5") as s:
            np.testing.assert_array_equal(pf[2, 3, :], s["pair_fraction"][:])
    summary = json.loads((tmp_path / "one" / "summary.json").read_text())
    assert summary["systems"] == 18 and summary["shape"] == [3, 6] and summary["failures"] == []


def test_sweep_bad_input(tmp_path, run_cli):
    def error(text, *args):
        (tmp_path / "s.toml").write_text(text)
        r = run_cli("sweep", "s.toml", "-o", "out", *args)
        assert r.returncode == 2, (r.stdout, r.stderr)
        assert not (tmp_path / "out" / "sweep.h5").exists()
        return r.stderr

    assert error(SWEEP.replace('key = "model.beta"', 'key = "model.betta"')).startswith(
        "error: model.betta: unknown key; allowed:")
    assert error(SWEEP.replace("cluster_threshold = 0.05", "cluster_threshold = 2.5")) == \
        "error: output.cluster_threshold: must lie in (0, 2), got 2.5\n"
    assert error(SWEEP.replace("range = [1, 7]", "range = [7, 1]")) == "error: sweep.axis[1].range: is empty: stop must exceed start\n"
    assert error(SWEEP.split("[sweep]")[0]) == \
        "error: sweep: a sweep configuration needs a [sweep] table with at least one [[sweep.axis]]\n"


STABILITY = """
[model]
beta = 2.0
[init]
kind = "uniform_sphere"
n = 8
d = 3
seed = 3
[integrate]
method = "rk4"
dt = 0.02
t_end = 2.0
[output]
every = 0.5
"""


def test_stability_ratio_is_linear_in_eps(tmp_path, run_cli):
    (tmp_path / "c.toml").write_text(STABILITY)
    for target in ["tokens", "weights"]:
        r = run_cli("stability", "c.toml", "-o", target, "--perturb", target, "--eps", "1e-6", "--eps", "1e-5", "-q")
        assert r.returncode == 0, r.stderr
        with h5py.File(tmp_path / target / "stability.h5") as f:
            assert f["w2"].shape == (2, 5) and f.attrs["perturb"] == target
            ratio = f["ratio"][:]
            np.testing.assert_allclose(ratio, f["w2"][:] / f["eps"][:][:, None], rtol=1e-15)
            # Linear response: W2/eps has a limit as eps -> 0 (differences O(eps)).
            np.testing.assert_allclose(ratio[0, 1:], ratio[1, 1:], rtol=1e-2)
            assert np.all(ratio[:, 1:] > 0)
    r = run_cli("stability", "c.toml", "-o", "bad", "--eps", "-1")
    assert r.returncode == 2 and r.stderr == "error: --eps: must be finite and > 0, got -1\n"
