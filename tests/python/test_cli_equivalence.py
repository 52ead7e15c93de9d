"""Python results equal the command line's for the same configuration: run files (HDF5, read with
h5py, not with attnflow), the Gaussian reduction's CSV and the equiangular CSV, bit for bit."""
import csv
import io
import json
import tomllib

import h5py
import numpy as np
import pytest

import attnflow as af

SPHERE = """
[model]
geometry = "sphere"
kernel = "softmax"
beta = 2.0
Q = [[1.0, 0.2, 0.0], [0.0, 1.0, 0.0], [0.1, 0.0, 0.8]]
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
observables = ["energy", "energy_rate", "clusters", "pair_fraction", "mean_cosine", "normalized_energy"]
"""

EUCLIDEAN_L2 = """
[model]
geometry = "euclidean"
kernel = "l2"
beta = 0.7
[[model.heads]]
Q = [[1.0, 0.0], [0.3, 1.0]]
K = [[0.5, 0.1], [0.0, 1.0]]
V = [[-1.0, 0.0], [0.0, -0.5]]
[[model.heads]]
Q = [[0.2, 1.0]]
K = [[1.0, 0.4]]
V = [[1.0, 0.5]]
W = [[0.3], [-0.2]]
[init]
kind = "gaussian"
n = 30
mean = [0.5, -1.0]
cov = [[1.0, 0.3], [0.3, 0.5]]
seed = 3
[integrate]
method = "dopri5"
t_end = 1.7
rtol = 1e-9
atol = 1e-11
[output]
times = [0.3, 1.0, 1.7]
observables = ["energy", "gaussian_w2", "gaussian_mean_error", "mean_cosine"]
"""

SIGMOID_CAUSAL = """
[model]
geometry = "euclidean"
kernel = "sigmoid"
beta = 0.5
causal = true
V = [[0.5, 0.0], [0.0, 0.5]]
[init]
kind = "points"
points = [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [-1.0, 0.2], [0.3, -0.7]]
weights = [0.1, 0.2, 0.3, 0.2, 0.2]
positions = [0, 1, 1, 2, 3]
[integrate]
method = "euler"
dt = 1.0
t_end = 4.0
[output]
every = 1.0
observables = ["clusters", "mean_cosine"]
"""


def cli_run(run_cli, tmp_path, text, name):
    (tmp_path / f"{name}.toml").write_text(text)
    r = run_cli("run", f"{name}.toml", "-o", name, "-q")
    assert r.returncode == 0, r.stderr
    return h5py.File(tmp_path / name / "run.h5", "r")


def assert_same_as_file(res, f, observables):
    np.testing.assert_array_equal(res.t, f["t"][:])
    np.testing.assert_array_equal(res.x, f["x"][:])
    np.testing.assert_array_equal(res.weights, f["weights"][:])
    np.testing.assert_array_equal(res.positions, f["positions"][:])
    for name in observables:
        np.testing.assert_array_equal(getattr(res, name), f[name][:], err_msg=name)


def test_sphere_run_equals_cli_bitwise(tmp_path, run_cli):
    cfg = tomllib.loads(SPHERE)
    with cli_run(run_cli, tmp_path, SPHERE, "sphere") as f:
        x0 = af.init.uniform_sphere(40, 3, seed=7)  # the same sampler as [init], independently called
        res = af.simulate(cfg["model"], x0, t_end=2.0, dt=0.05, method="rk4", every=0.5,
                          observables=cfg["output"]["observables"])
        assert_same_as_file(res, f, cfg["output"]["observables"])
        config = f.attrs["config"]
        # the resolved [integrate], [model] and [output] sections are the file's ([init] differs: x0)
        config = config.decode() if isinstance(config, bytes) else config
        assert "[model]" in res.config and "beta = 2.0" in res.config
        assert config.split("[integrate]")[1] == res.config.split("[integrate]")[1]
        # and with a Model object built from the file's own configuration
        run = af.load(tmp_path / "sphere")
        res2 = af.simulate(run.model, run.x[0], t_end=2.0, dt=0.05, every=0.5, observables=["energy"])
        np.testing.assert_array_equal(res2.x, f["x"][:])


def test_multi_head_l2_with_gaussian_observables_equals_cli_bitwise(tmp_path, run_cli):
    cfg = tomllib.loads(EUCLIDEAN_L2)
    init = cfg["init"]
    with cli_run(run_cli, tmp_path, EUCLIDEAN_L2, "l2") as f:
        x0 = af.init.gaussian(30, init["mean"], init["cov"], seed=3)
        res = af.simulate(af.Model(cfg["model"]), x0, t_end=1.7, method="dopri5", rtol=1e-9, atol=1e-11,
                          times=np.array([0.3, 1.0, 1.7]), observables=cfg["output"]["observables"],
                          gaussian=(np.array(init["mean"]), np.array(init["cov"])))
        assert_same_as_file(res, f, cfg["output"]["observables"])
        assert res.t[0] == 0.3  # t = 0 is integrated from but not recorded, as in the file


def test_causal_sigmoid_discrete_transformer_with_masses_equals_cli_bitwise(tmp_path, run_cli):
    cfg = tomllib.loads(SIGMOID_CAUSAL)
    init = cfg["init"]
    with cli_run(run_cli, tmp_path, SIGMOID_CAUSAL, "sig") as f:
        res = af.simulate(cfg["model"], np.array(init["points"]), 4.0, dt=1.0, method="euler", every=1.0,
                          weights=init["weights"], positions=init["positions"],
                          observables=cfg["output"]["observables"])
        assert_same_as_file(res, f, cfg["output"]["observables"])
        assert not np.array_equal(res.x[0], res.x[-1])


def test_run_load_and_initial_tokens_match_the_cli(tmp_path, run_cli):
    with cli_run(run_cli, tmp_path, SPHERE, "cli") as f:
        summary = af.run(tomllib.loads(SPHERE), tmp_path / "py")
        with h5py.File(tmp_path / "py" / "run.h5", "r") as g:
            assert sorted(f.keys()) == sorted(g.keys())
            for key in f.keys():
                np.testing.assert_array_equal(f[key][:], g[key][:], err_msg=key)
        cli_summary = json.loads((tmp_path / "cli" / "summary.json").read_text())
        assert summary == cli_summary
        run = af.load(tmp_path / "cli" / "run.h5")
        np.testing.assert_array_equal(run.x, f["x"][:])
        np.testing.assert_array_equal(run.t, f["t"][:])
        for name in tomllib.loads(SPHERE)["output"]["observables"]:
            np.testing.assert_array_equal(getattr(run, name), f[name][:])
        assert run.version == f.attrs["version"] and run.summary == cli_summary
        assert run.model == af.Model(tomllib.loads(run.config)["model"])
        x, w, p = af.initial_tokens(SPHERE)
        np.testing.assert_array_equal(x, f["x"][0])
        np.testing.assert_array_equal(w, f["weights"][:])
    # a path and --set overrides behave as on the command line
    (tmp_path / "c.toml").write_text(SPHERE)
    af.run(tmp_path / "c.toml", tmp_path / "over", overrides=["model.kernel=usa", "init.n=12"])
    r = run_cli("run", "c.toml", "-o", "over_cli", "--set", "model.kernel=usa", "--set", "init.n=12", "-q")
    assert r.returncode == 0, r.stderr
    with h5py.File(tmp_path / "over" / "run.h5") as a, h5py.File(tmp_path / "over_cli" / "run.h5") as b:
        assert a["x"].shape == (5, 12, 3)
        np.testing.assert_array_equal(a["x"][:], b["x"][:])


GAUSSIAN = """
[model]
geometry = "euclidean"
kernel = "softmax"
beta = 0.8
Q = [[1.0, 0.3], [0.0, 1.0]]
V = [[1.0, 0.0], [0.2, -1.0]]
[init]
kind = "gaussian"
mean = [0.5, -0.2]
cov = [[0.4, 0.1], [0.1, 0.3]]
[integrate]
method = "rk4"
dt = 0.01
t_end = 0.8
[output]
every = 0.2
"""


def test_gaussian_reduction_equals_cli_csv(tmp_path, run_cli):
    (tmp_path / "g.toml").write_text(GAUSSIAN)
    r = run_cli("gaussian", "g.toml", "-o", "g", "-q")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO((tmp_path / "g" / "gaussian.csv").read_text())))
    cfg = tomllib.loads(GAUSSIAN)
    res = af.gaussian.simulate(cfg["model"], cfg["init"]["mean"], np.array(cfg["init"]["cov"]), 0.8, dt=0.01,
                               every=0.2)
    np.testing.assert_array_equal(res.t, [float(row["t"]) for row in rows])
    np.testing.assert_array_equal(res.mean[:, 1], [float(row["mean_1"]) for row in rows])
    np.testing.assert_array_equal(res.cov[:, 0, 1], [float(row["cov_0_1"]) for row in rows])
    np.testing.assert_array_equal(res.eigenvalues[:, 0], [float(row["eig_0"]) for row in rows])
    np.testing.assert_array_equal(res.rank, [int(row["rank"]) for row in rows])


def test_equiangular_equals_cli_csv(tmp_path, run_cli):
    r = run_cli("equiangular", "--n", 6, "--beta", 2.0, "--rho0", 0.1, "--t-end", 5.0, "--points", 20,
                "--normalization", "pre_ln")
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stdout.splitlines() if not line.startswith("#")]
    rows = list(csv.DictReader(io.StringIO("\n".join(lines))))
    res = af.equiangular.solve(6, 2.0, 0.1, t_end=5.0, points=20, normalization="pre_ln")
    np.testing.assert_array_equal(res.t, [float(row["t"]) for row in rows])
    np.testing.assert_array_equal(res.rho, [float(row["rho"]) for row in rows])
    np.testing.assert_array_equal(res.r, [float(row["r"]) for row in rows])
    assert res.r[-1] > 1.0  # Pre-LN grows the radius


@pytest.mark.parametrize("scheme", ["pre_ln", "peri_ln"])
def test_normalization_scheme_runs_equal_cli(tmp_path, run_cli, scheme):
    text = SPHERE.replace('geometry = "sphere"', f'geometry = "euclidean"\nnormalization = "{scheme}"')
    text = text.replace('observables = [', 'observables = ["mean_cosine"] #')
    cfg = tomllib.loads(text)
    with cli_run(run_cli, tmp_path, text, scheme) as f:
        res = af.simulate(cfg["model"], af.init.uniform_sphere(40, 3, seed=7), 2.0, dt=0.05, every=0.5,
                          observables=["mean_cosine"])
        assert_same_as_file(res, f, ["mean_cosine"])
        np.testing.assert_array_equal(res.radius, f["radius"][:])


SCHEDULED = """
[model]
beta = 1.0
Q = { kind = "sinusoid", base = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], amplitude = [[0.0, 0.5, 0.0], [0.5, 0.0, 0.0], [0.0, 0.0, 0.3]], omega = 2.0 }
[init]
n = 20
d = 3
seed = 4
[integrate]
dt = 0.05
t_end = 2.0
[output]
every = 0.5
observables = ["energy", "mean_cosine"]
"""


def test_time_dependent_weights_equal_cli_and_velocity_uses_the_weights_at_t(tmp_path, run_cli):
    # [M]: weights that change with depth, here Q(t) = Q0 + A sin(ωt)
    cfg = tomllib.loads(SCHEDULED)
    with cli_run(run_cli, tmp_path, SCHEDULED, "sched") as f:
        res = af.simulate(cfg["model"], af.init.uniform_sphere(20, 3, seed=4), 2.0, dt=0.05, every=0.5,
                          observables=["energy", "mean_cosine"])
        assert_same_as_file(res, f, ["energy", "mean_cosine"])
    q = cfg["model"]["Q"]
    x = af.init.uniform_sphere(20, 3, seed=4)
    for t in (0.0, 0.7):
        frozen = {"Q": np.array(q["base"]) + np.array(q["amplitude"]) * np.sin(2.0 * t)}
        np.testing.assert_array_equal(af.velocity(cfg["model"], x, t=t), af.velocity(frozen, x))
