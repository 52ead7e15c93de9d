"""Time-dependent weights ([M]): matrix specs in the TOML, checked against NumPy layers and the
static model."""
import h5py
import numpy as np
import pytest

RNG = np.random.default_rng(31)
D = 3
X0 = RNG.normal(size=(7, D))
X0 /= np.linalg.norm(X0, axis=1, keepdims=True)
Q0, Q1 = RNG.normal(size=(D, D)), RNG.normal(size=(D, D))
A = 0.5 * RNG.normal(size=(D, D))


def run(run_cli, tmp_path, model, method="euler", dt=1.0, t_end=3.0, out="out"):
    (tmp_path / "c.toml").write_text(f"""
[model]
geometry = "euclidean"
{model}
[init]
kind = "points"
points = {X0.tolist()}
[integrate]
method = "{method}"
dt = {dt}
t_end = {t_end}
[output]
times = [{t_end}]
observables = []
""")
    r = run_cli("run", "c.toml", "-o", out, "-q")
    assert r.returncode == 0, r.stderr
    with h5py.File(tmp_path / out / "run.h5", "r") as f:
        return f["x"][0]


def layer(x, Q, beta=1.0):
    s = beta * (x @ Q.T) @ x.T
    a = np.exp(s - s.max(axis=1, keepdims=True))
    a /= a.sum(axis=1, keepdims=True)
    return x + a @ x


def test_constant_and_single_layer_schedules_equal_the_static_model(tmp_path, run_cli):
    static = run(run_cli, tmp_path, f"Q = {Q0.tolist()}", method="rk4", dt=0.1)
    one_layer = run(run_cli, tmp_path, f'Q = {{ kind = "per_layer", layers = [{Q0.tolist()}], layer_time = 5.0 }}',
                    method="rk4", dt=0.1)
    np.testing.assert_array_equal(static, one_layer)


def test_per_layer_weights_are_applied_layer_by_layer(tmp_path, run_cli):
    got = run(run_cli, tmp_path, f'Q = {{ kind = "per_layer", layers = [{Q0.tolist()}, {Q1.tolist()}, {Q0.tolist()}] }}')
    x = X0
    for Q in (Q0, Q1, Q0):
        x = layer(x, Q)
    np.testing.assert_allclose(got, x, atol=1e-13)


def test_sinusoidal_weights_and_beta(tmp_path, run_cli):
    model = (f'Q = {{ kind = "sinusoid", base = {Q0.tolist()}, amplitude = {A.tolist()}, omega = 0.7, phase = 0.2 }}\n'
             'beta = { kind = "sinusoid", base = 1.0, amplitude = 0.5, omega = 2.0 }')
    got = run(run_cli, tmp_path, model)
    x = X0
    for t in range(3):
        x = layer(x, Q0 + np.sin(0.7 * t + 0.2) * A, beta=1.0 + 0.5 * np.sin(2.0 * t))
    np.testing.assert_allclose(got, x, atol=1e-13)


def test_per_layer_weights_from_a_3d_npy_file(tmp_path, run_cli):
    np.save(tmp_path / "q.npy", np.stack([Q1, Q0, Q1]))
    got = run(run_cli, tmp_path, 'Q = { kind = "file", path = "q.npy" }')
    x = X0
    for Q in (Q1, Q0, Q1):
        x = layer(x, Q)
    np.testing.assert_allclose(got, x, atol=1e-13)


def test_ou_weights_are_reproducible_and_continuous_for_adaptive_integration(tmp_path, run_cli):
    model = 'Q = { kind = "ou", mean = { kind = "identity" }, theta = 1.0, sigma = 0.5, dt = 0.05, seed = 4 }'
    a = run(run_cli, tmp_path, model, method="dopri5", dt=0.0 + 0.1, t_end=2.0, out="a")
    b = run(run_cli, tmp_path, model, method="dopri5", dt=0.1, t_end=2.0, out="b")
    np.testing.assert_array_equal(a, b)
    c = run(run_cli, tmp_path, model.replace("seed = 4", "seed = 5"), method="dopri5", dt=0.1, t_end=2.0, out="c")
    assert not np.array_equal(a, c)


def test_random_weights_are_seeded(tmp_path, run_cli):
    a = run(run_cli, tmp_path, 'Q = { kind = "random", seed = 1 }', out="a")
    b = run(run_cli, tmp_path, 'Q = { kind = "random", seed = 1 }', out="b")
    c = run(run_cli, tmp_path, 'Q = { kind = "random", seed = 2 }', out="c")
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("model,message", [
    ('Q = { kind = "spline" }', "error: model.Q.kind: unknown kind 'spline'; allowed: identity, random, file, "
                                "per_layer, sinusoid, relaxation, ou"),
    ('Q = { kind = "per_layer", layers = [[[1, 0, 0], [0, 1, 0], [0, 0, 1]], [[1, 0], [0, 1]]] }',
     "error: model.Q.layers[1]: must have the shape of the first matrix (3x3), got 2x2"),
    ('Q = { kind = "per_layer", layers = [[[1, 0, 0], [0, 1, 0], [0, 0, 1]]], layer_time = 1.0 }',
     "error: model.Q.layers: has 1 layers of 1 time units (up to t = 1), the run needs t_end = 3"),
    ('Q = { kind = "ou", mean = { kind = "identity" }, theta = -1 }',
     "error: model.Q.theta: must be finite and > 0, got -1"),
    ('beta = { kind = "sinusoid", base = 1.0, amplitude = 2.0, omega = 2.0 }',
     "error: model.beta: must stay finite and > 0 along its schedule; it is 0.99990... at t = "),
])
def test_bad_schedules(tmp_path, run_cli, model, message):
    (tmp_path / "c.toml").write_text(f'[model]\ngeometry = "euclidean"\n{model}\n[init]\nn = 4\n'
                                     '[integrate]\nt_end = 3.0\n[output]\nobservables = []\n')
    r = run_cli("run", "c.toml", "-o", "out")
    assert r.returncode == 2
    if message.endswith("at t = "):
        assert r.stderr.startswith("error: model.beta: must stay finite and > 0 along its schedule; it is -")
    else:
        assert r.stderr == message + "\n"
