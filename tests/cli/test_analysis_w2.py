"""`attnflow w2 A.h5 B.h5`: W2 between two runs frame by frame, against NumPy brute force, and the
bad-input cases (one line `error: <key>: ...`, exit 2)."""
import itertools
import json

import h5py
import numpy as np
import pytest

RUN = """
[model]
beta = 2.0
[init]
kind = "uniform_sphere"
n = 6
d = 3
seed = 1
[integrate]
method = "rk4"
dt = 0.05
t_end = 1.0
[output]
every = 0.5
"""


def make_run(tmp_path, run_cli, name, *sets):
    (tmp_path / "c.toml").write_text(RUN)
    args = ["run", "c.toml", "-o", name, "-q"]
    for s in sets:
        args += ["--set", s]
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    return f"{name}/run.h5"


def brute_force_w2(x, y):
    """W2 between two uniform 6-point clouds: min over the 720 permutations (Birkhoff)."""
    cost = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    best = min(cost[range(len(x)), list(p)].mean() for p in itertools.permutations(range(len(x))))
    return np.sqrt(best)


def test_exact_w2_matches_brute_force(tmp_path, run_cli):
    a = make_run(tmp_path, run_cli, "a")
    b = make_run(tmp_path, run_cli, "b", "init.seed=2")
    r = run_cli("w2", a, b)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["method"] == "exact"
    with h5py.File(tmp_path / a) as fa, h5py.File(tmp_path / b) as fb:
        np.testing.assert_array_equal(out["t"], fa["t"][:])
        for k in range(len(out["t"])):
            # Solver error (header): ≤ C_max((N+M+1)2^-58 + 2NM u), C_max ≤ 4 on the sphere.
            assert out["w2"][k] ** 2 == pytest.approx(brute_force_w2(fa["x"][k], fb["x"][k]) ** 2, abs=1e-13)
    same = json.loads(run_cli("w2", a, a).stdout)
    assert same["w2"] == [0.0] * len(same["t"])


def test_other_methods_and_output_file(tmp_path, run_cli):
    a = make_run(tmp_path, run_cli, "a")
    b = make_run(tmp_path, run_cli, "b", "init.seed=2")
    exact = np.array(json.loads(run_cli("w2", a, b).stdout)["w2"])
    sink = np.array(json.loads(run_cli("w2", a, b, "--method", "sinkhorn", "--epsilon", "1e-3").stdout)["w2"])
    # |S_eps - W2^2| <= eps log N (docs/analysis.md).
    np.testing.assert_allclose(sink ** 2, exact ** 2, atol=1e-3 * np.log(6) + 1e-9)
    sliced = np.array(json.loads(run_cli("w2", a, b, "--method", "sliced", "--projections", "50").stdout)["w2"])
    assert np.all(sliced <= exact + 1e-12)  # each projection contracts: SW2 <= W2
    gauss = json.loads(run_cli("w2", a, b, "--method", "gaussian").stdout)["w2"]
    assert len(gauss) == len(exact)
    r = run_cli("w2", a, b, "--method", "conditional", "-o", "w2.json")
    assert r.returncode == 0 and r.stdout == "wrote w2.json\n"
    cond = np.array(json.loads((tmp_path / "w2.json").read_text())["w2"])
    with h5py.File(tmp_path / a) as fa, h5py.File(tmp_path / b) as fb:
        # One token per position: the tokens are matched by index.
        direct = [np.sqrt(np.mean(((fa["x"][k] - fb["x"][k]) ** 2).sum(-1))) for k in range(3)]
    np.testing.assert_allclose(cond, direct, rtol=1e-14)


def run_error(run_cli, *args):
    r = run_cli(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stdout == ""
    return r.stderr


def test_bad_inputs(tmp_path, run_cli):
    a = make_run(tmp_path, run_cli, "a")
    d4 = make_run(tmp_path, run_cli, "d4", "init.d=4")
    longer = make_run(tmp_path, run_cli, "longer", "integrate.t_end=1.5")
    nox = make_run(tmp_path, run_cli, "nox", "output.trajectory=false")
    version = run_cli("--version").stdout.strip()
    assert run_error(run_cli, "w2", a, d4) == \
        f"error: w2: the runs have different dimensions: {a} has d = 3, {d4} has d = 4\n"
    assert run_error(run_cli, "w2", a, longer) == \
        f"error: w2: the runs have different numbers of frames: {a} has 3, {longer} has 4\n"
    assert run_error(run_cli, "w2", a, nox) == \
        f"error: {nox}: has no dataset /x (written with output.trajectory = false?)\n"
    assert run_error(run_cli, "w2", a, "missing.h5") == "error: missing.h5: file not found\n"
    (tmp_path / "text.h5").write_text("not hdf5")
    assert run_error(run_cli, "w2", a, "text.h5") == "error: text.h5: is not an HDF5 file\n"
    with h5py.File(tmp_path / "old.h5", "w") as f:
        f.attrs["version"] = "0.0.9"
    major_minor = ".".join(version.split(".")[:2])
    assert run_error(run_cli, "w2", a, "old.h5") == (
        f"error: old.h5: written by attnflow 0.0.9; this is attnflow {version}, which reads run files "
        f"of version {major_minor}.x only\n")
    with h5py.File(tmp_path / "bare.h5", "w") as f:
        f.create_dataset("x", data=np.zeros((1, 2, 3)))
    assert run_error(run_cli, "w2", a, "bare.h5") == \
        "error: bare.h5: is not an attnflow run file (no 'version' attribute)\n"
    with h5py.File(tmp_path / "not_t.h5", "w") as f:
        f.attrs["version"] = version
    assert run_error(run_cli, "w2", a, "not_t.h5") == "error: not_t.h5: has no dataset /t\n"
    assert run_error(run_cli, "w2", a, a, "--method", "emd") == \
        "error: --method: unknown method 'emd'; allowed: exact, sinkhorn, sliced, gaussian, conditional\n"
    assert run_error(run_cli, "w2", a, a, "--method", "sinkhorn", "--epsilon", "0") == \
        "error: --epsilon: must be finite and > 0, got 0\n"
