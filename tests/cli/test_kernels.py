"""Kernels through the command line: a real transformer layer, masks, sigmoid and Sinkhorn limits."""
import h5py
import numpy as np
import pytest


def run_one_layer(run_cli, tmp_path, model_toml, x0, weights=None, observables="[]", t_end=1.0,
                  method="euler", dt=1.0, geometry="euclidean"):
    w = "" if weights is None else f"weights = {list(map(float, weights))}\n"
    (tmp_path / "c.toml").write_text(f"""
[model]
geometry = "{geometry}"
{model_toml}
[init]
kind = "points"
points = {np.asarray(x0).tolist()}
{w}
[integrate]
method = "{method}"
dt = {dt}
t_end = {t_end}
[output]
times = [{t_end}]
observables = {observables}
""")
    r = run_cli("run", "c.toml", "-o", "out", "-q")
    assert r.returncode == 0, r.stderr
    with h5py.File(tmp_path / "out" / "run.h5", "r") as f:
        return {k: f[k][:] for k in f.keys()}


def matrix_toml(name, m):
    return f"{name} = {np.asarray(m).tolist()}\n"


def test_one_euler_step_is_a_real_multi_head_attention_layer(tmp_path, run_cli):
    """x + MHA(x) in the row convention (X W_q, softmax(QKᵀ/√k), concat, W_o), independent NumPy."""
    rng = np.random.default_rng(11)
    n, d, heads, k, dv = 9, 6, 3, 4, 2
    X = rng.normal(size=(n, d))
    Wq, Wk = rng.normal(size=(d, heads * k)), rng.normal(size=(d, heads * k))
    Wv, Wo = rng.normal(size=(d, heads * dv)), rng.normal(size=(heads * dv, d))
    outs = []
    for h in range(heads):
        Qh, Kh = X @ Wq[:, h * k:(h + 1) * k], X @ Wk[:, h * k:(h + 1) * k]
        s = Qh @ Kh.T / np.sqrt(k)
        a = np.exp(s - s.max(axis=1, keepdims=True))
        a /= a.sum(axis=1, keepdims=True)
        outs.append(a @ (X @ Wv[:, h * dv:(h + 1) * dv]))
    expected = X + np.concatenate(outs, axis=1) @ Wo
    model = f'kernel = "softmax"\nbeta = {1 / np.sqrt(k)!r}\n'
    for h in range(heads):  # the mapping of docs/kernels.md
        model += "[[model.heads]]\n"
        model += matrix_toml("Q", Wq[:, h * k:(h + 1) * k].T) + matrix_toml("K", Wk[:, h * k:(h + 1) * k].T)
        model += matrix_toml("V", Wv[:, h * dv:(h + 1) * dv].T) + matrix_toml("W", Wo[h * dv:(h + 1) * dv, :].T)
    out = run_one_layer(run_cli, tmp_path, model, X)
    np.testing.assert_allclose(out["x"][0], expected, rtol=1e-13, atol=1e-13)


def test_causal_first_token_is_a_fixed_leader_on_the_sphere(tmp_path, run_cli):
    """Causal SA with V = I on the sphere: x_1 never moves and every token tends to x_1(0)."""
    rng = np.random.default_rng(2)
    x0 = rng.normal(size=(6, 3))
    x0[1:] += 2.0 * x0[0]  # a common hemisphere, so convergence is fast
    x0 /= np.linalg.norm(x0, axis=1, keepdims=True)
    out = run_one_layer(run_cli, tmp_path, 'kernel = "softmax"\nbeta = 1.0\ncausal = true\n', x0,
                        t_end=40.0, method="rk4", dt=0.05, geometry="sphere")
    np.testing.assert_allclose(out["x"][0][0], x0[0], atol=1e-14)
    assert np.min(out["x"][0] @ x0[0]) > 1 - 1e-9


def test_sigmoid_with_default_bias_tends_to_usa_as_n_grows(tmp_path, run_cli):
    """a_ij = w_j/(e^b + e^{-s}) with b = -log N: |a - w e^{s}| / (w e^s) = e^{s+b}/(1+e^{s+b}) ≤ e^{β}/N."""
    rng = np.random.default_rng(5)
    errors = []
    for n in (10, 100, 1000):
        x0 = rng.normal(size=(n, 3))
        x0 /= np.linalg.norm(x0, axis=1, keepdims=True)
        sig = run_one_layer(run_cli, tmp_path, 'kernel = "sigmoid"\nbeta = 1.0\n', x0)["x"][0]
        usa = run_one_layer(run_cli, tmp_path, 'kernel = "usa"\nbeta = 1.0\n', x0)["x"][0]
        v_sig, v_usa = sig - x0, usa - x0
        rel = np.abs(v_sig - v_usa).max() / np.abs(v_usa).max()
        assert rel <= np.e / n  # the bound above, summed over j with weights that sum to one
        errors.append(rel)
    assert errors[0] > errors[1] > errors[2]


def test_sinkhorn_one_iteration_is_softmax_and_converged_plan_is_doubly_stochastic(tmp_path, run_cli):
    rng = np.random.default_rng(8)
    n, d = 30, 4
    x0 = rng.normal(size=(n, d))
    w = rng.random(n)
    w /= w.sum()
    Q, K, V = rng.normal(size=(3, d)), rng.normal(size=(3, d)), rng.normal(size=(d, d))
    mats = matrix_toml("Q", Q) + matrix_toml("K", K) + matrix_toml("V", V)
    one = run_one_layer(run_cli, tmp_path, 'kernel = "sinkhorn"\nbeta = 0.5\nsinkhorn_iters = 1\n' + mats, x0, w)
    soft = run_one_layer(run_cli, tmp_path, 'kernel = "softmax"\nbeta = 0.5\n' + mats, x0, w)
    np.testing.assert_array_equal(one["x"][0], soft["x"][0])
    full = run_one_layer(run_cli, tmp_path, 'kernel = "sinkhorn"\nbeta = 0.5\nsinkhorn_iters = 500\n'
                         'sinkhorn_tol = 1e-12\n' + mats, x0, w, observables='["sinkhorn_error"]')
    assert full["sinkhorn_error"][0] < 1e-11
    # Independent dense Sinkhorn (Sinkhorn–Knopp on the N×N kernel with marginals w, w).
    s = 0.5 * (x0 @ Q.T) @ (x0 @ K.T).T
    plan = np.exp(s - s.max())
    u, v = np.ones(n), np.ones(n)
    for _ in range(5000):
        u = 1.0 / (plan @ (w * v))
        v = 1.0 / (plan.T @ (w * u))
    a = u[:, None] * plan * (w * v)[None, :]
    np.testing.assert_allclose(a.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(w @ a, w, atol=1e-12)
    np.testing.assert_allclose(full["x"][0], x0 + a @ (x0 @ V.T), atol=1e-10)


def test_hardmax_is_the_large_beta_limit_of_softmax(tmp_path, run_cli):
    rng = np.random.default_rng(4)
    x0 = rng.normal(size=(12, 3))
    x0 /= np.linalg.norm(x0, axis=1, keepdims=True)
    hard = run_one_layer(run_cli, tmp_path, 'kernel = "hardmax"\nbeta = 1.0\n', x0)["x"][0]
    soft = run_one_layer(run_cli, tmp_path, 'kernel = "softmax"\nbeta = 1e4\n', x0)["x"][0]
    np.testing.assert_allclose(soft, hard, atol=1e-12)
    # Q = K = I: each token's argmax is itself (<x_i, x_i> = 1 is the largest), so one layer doubles x.
    np.testing.assert_allclose(hard, 2 * x0, atol=1e-15)


@pytest.mark.parametrize("setting,message", [
    ('kernel = "sinkhorn"\nsinkhorn_iters = -2\n',
     "error: model.sinkhorn_iters: must be an integer in [1, 1000000] (1 = softmax), got -2"),
    ('kernel = "sinkhorn"\nsinkhorn_tol = 0\n', "error: model.sinkhorn_tol: must be finite and > 0, got 0"),
    ('kernel = "sigmoid"\nsigmoid_bias = inf\n', "error: model.sigmoid_bias: must be a finite number, got inf"),
    ('kernel = "sinkhorn"\ncausal = true\n',
     "error: model.causal: the sinkhorn kernel cannot be masked: a causal plan has no doubly stochastic "
     "scaling ([C] defines Sinkhorn attention unmasked); use softmax, usa, l2, sigmoid or hardmax with causal = true"),
    ('[[model.heads]]\nQ = [[1, 0, 0]]\nK = [[1, 0, 0], [0, 1, 0]]\n',
     "error: model.heads[0].K: must have as many rows as Q (1), got 2x3"),
    ('[[model.heads]]\nV = [[1, 0, 0], [0, 1, 0]]\n',
     "error: model.heads[0].V: must be 3x3 when no output matrix W is given, got 2x3"),
])
def test_bad_kernel_parameters(tmp_path, run_cli, setting, message):
    (tmp_path / "c.toml").write_text(f"[model]\n{setting}\n[init]\nn = 4\n[output]\nobservables = []\n")
    r = run_cli("run", "c.toml", "-o", "out")
    assert r.returncode == 2
    assert r.stderr == message + "\n"


def test_circle_geometry_is_the_kuramoto_type_angle_dynamics(tmp_path, run_cli):
    """geometry = "circle": θ̇_i = Σ_j w_j e^{β cos(θ_i−θ_j)} sin(θ_j−θ_i) / Z_i ([R], SA) — one RK4 run
    against the angle ODE integrated in NumPy."""
    theta0 = np.array([0.1, 1.3, 2.0, 4.1, 5.5])
    x0 = np.stack([np.cos(theta0), np.sin(theta0)], axis=1)
    out = run_one_layer(run_cli, tmp_path, 'kernel = "softmax"\nbeta = 2.0\n', x0, t_end=1.0, method="rk4",
                        dt=0.01, geometry="circle")
    def rhs(th):
        diff = th[None, :] - th[:, None]
        a = np.exp(2.0 * np.cos(diff))
        return (a * np.sin(diff)).sum(axis=1) / a.sum(axis=1)
    th, h = theta0.copy(), 1e-3
    for _ in range(1000):
        k1 = rhs(th); k2 = rhs(th + h / 2 * k1); k3 = rhs(th + h / 2 * k2); k4 = rhs(th + h * k3)
        th = th + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    np.testing.assert_allclose(out["x"][0], np.stack([np.cos(th), np.sin(th)], axis=1), atol=1e-9)
    (tmp_path / "c.toml").write_text('[model]\ngeometry = "circle"\n[init]\nn = 4\nd = 3\n[output]\nobservables = []\n')
    r = run_cli("run", "c.toml", "-o", "bad")
    assert r.returncode == 2
    assert r.stderr == "error: model.geometry: 'circle' needs tokens in R^2 (init.d = 2), got d = 3\n"
