"""Errors are Python exceptions with the command line's messages: the same configuration mistake
gives `error: <message>` (exit 2) from `attnflow run` and InputError(<message>) from Python."""
import tomllib

import h5py
import numpy as np
import pytest

import attnflow as af

BASE = """
[model]
geometry = "sphere"
[init]
kind = "uniform_sphere"
n = 6
d = 3
seed = 1
[integrate]
t_end = 1.0
"""

# (--set override for the CLI, keyword arguments for attnflow.simulate, expected key)
CASES = [
    ("model.beta=-1", dict(model={"beta": -1}), "model.beta"),
    ("model.beta=nan", dict(model={"beta": float("nan")}), "model.beta"),
    ("model.kernel=nope", dict(model={"kernel": "nope"}), "model.kernel"),
    ("model.geometry=torus", dict(model={"geometry": "torus"}), "model.geometry"),
    ("model.Q=[[1.0, 0.0]]", dict(model={"Q": [[1.0, 0.0]]}), "model.Q"),
    ("model.bogus=1", dict(model={"bogus": 1}), "model.bogus"),
    ("model.beta=\"high\"", dict(model={"beta": "high"}), "model.beta"),
    ("model.sinkhorn_iters=0", dict(model={"kernel": "sinkhorn", "sinkhorn_iters": 0}), "model.sinkhorn_iters"),
    ("integrate.dt=0", dict(dt=0), "integrate.dt"),
    ("integrate.method=\"leapfrog\"", dict(method="leapfrog"), "integrate.method"),
    ("output.times=[0.5, 0.2]", dict(times=[0.5, 0.2]), "output.times"),
    ("output.times=[2.0]", dict(times=[2.0]), "output.times"),
    ("output.observables=[\"nope\"]", dict(observables=["nope"]), "output.observables"),
    ("output.cluster_threshold=3", dict(cluster_threshold=3), "output.cluster_threshold"),
]


@pytest.mark.parametrize("override,kwargs,key", CASES, ids=[c[0] for c in CASES])
def test_same_message_as_the_cli(tmp_path, run_cli, override, kwargs, key):
    (tmp_path / "c.toml").write_text(BASE)
    extra = ["--set", "model.kernel=sinkhorn"] if "sinkhorn" in override else []
    r = run_cli("run", "c.toml", "-o", "out", "--set", override, *extra)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1
    cli_message = r.stderr[len("error: "):].strip()
    assert cli_message.startswith(key + ": ")
    x0 = af.init.uniform_sphere(6, 3, seed=1)
    kwargs = dict(kwargs)
    model = kwargs.pop("model", None)
    with pytest.raises(ValueError) as e:
        af.simulate(model, x0, 1.0, **kwargs)
    assert isinstance(e.value, af.InputError)
    assert str(e.value) == cli_message
    assert e.value.key == key
    if "model" in override:  # the model alone (velocity) fails the same way
        with pytest.raises(af.InputError, match="^" + key.replace(".", r"\.") + ": "):
            af.velocity(model, x0)


BLOWUP = """
[model]
geometry = "euclidean"
kernel = "usa"
[init]
kind = "gaussian"
n = 8
mean = [0.0, 0.0]
cov = [[0.5, 0.0], [0.0, 0.5]]
seed = 1
[integrate]
method = "rk4"
dt = 0.01
t_end = 5.0
[output]
every = 0.05
observables = ["mean_cosine"]
"""


def test_a_run_that_turns_non_finite_raises_numerical_error_with_the_good_frames(tmp_path, run_cli):
    (tmp_path / "b.toml").write_text(BLOWUP)
    r = run_cli("run", "b.toml", "-o", "out", "-q")
    assert r.returncode == 3
    cli_message = r.stderr[len("error: "):].strip()
    cfg = tomllib.loads(BLOWUP)
    x0 = af.init.gaussian(8, cfg["init"]["mean"], cfg["init"]["cov"], seed=1)
    with pytest.raises(af.NumericalError) as e:
        af.simulate(cfg["model"], x0, 5.0, dt=0.01, every=0.05, observables=["mean_cosine"])
    assert str(e.value) == cli_message and "non-finite" in cli_message
    assert isinstance(e.value, RuntimeError)
    kept = e.value.result
    with h5py.File(tmp_path / "out" / "run.h5", "r") as f:
        assert len(f["t"]) >= 2
        np.testing.assert_array_equal(kept.t, f["t"][:])
        np.testing.assert_array_equal(kept.x, f["x"][:])
        np.testing.assert_array_equal(kept.mean_cosine, f["mean_cosine"][:])


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(ValueError, match="nothing.h5"):
        af.load(tmp_path / "nothing.h5")
    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as f:
        f["t"] = np.zeros(3)
    with pytest.raises(af.InputError) as e:
        af.load(bad)
    assert e.value.key == str(bad) and "is not an attnflow run file" in str(e.value)


def test_config_errors_of_run_and_initial_tokens(tmp_path):
    with pytest.raises(af.InputError, match=r"^config: cannot read"):
        af.run(tmp_path / "missing.toml", tmp_path / "o")
    with pytest.raises(af.InputError, match=r"^config: TOML parse error at line 1"):
        af.initial_tokens("[model\nbeta = 1")
    with pytest.raises(af.InputError, match=r"^init.kind: unknown kind 'cube'"):
        af.initial_tokens({"init": {"kind": "cube"}})
    with pytest.raises(af.InputError, match=r"^init: the tokens are the x0 argument"):
        af._core.simulate({"init": {}}, af.init.uniform_sphere(3, 3))
    with pytest.raises(af.InputError, match=r"^gaussian: the observable 'gaussian_w2' compares"):
        af.simulate({"geometry": "euclidean"}, af.init.uniform_sphere(3, 3), 1.0, observables=["gaussian_w2"])
