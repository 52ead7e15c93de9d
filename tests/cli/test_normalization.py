"""Normalisation schemes ([R] §6) and noise, checked against an independent NumPy integration of
the defining (θ, r) equations: θ̇ = P⊥_θ A(θ) / s, ṙ as in SPEC §1 — a different state variable
from attnflow's x = r θ, integrated with a different step."""
import h5py
import numpy as np
import pytest

RNG = np.random.default_rng(21)
N, D = 6, 4
Q = 0.7 * RNG.normal(size=(D, D))
K = 0.7 * RNG.normal(size=(D, D))
V = RNG.normal(size=(D, D))
X0 = RNG.normal(size=(N, D))
X0 /= np.linalg.norm(X0, axis=1, keepdims=True)
BETA = 1.0


def attention(theta):
    s = BETA * (theta @ Q.T) @ (theta @ K.T).T
    a = np.exp(s - s.max(axis=1, keepdims=True))
    a /= a.sum(axis=1, keepdims=True)
    return a @ (theta @ V.T)


def theta_r_rhs(scheme, t, theta, r, tau=0.4, alpha=0.8):
    a = attention(theta)
    radial = np.sum(theta * a, axis=1)
    tangent = a - radial[:, None] * theta
    norm_a = np.linalg.norm(a, axis=1)
    if scheme == "mix_ln":
        scheme = "post_ln" if t < tau else "pre_ln"
    speed, rdot = {
        "post_ln": (np.ones(N), np.zeros(N)),
        "pre_ln": (r, radial),
        "peri_ln": (r * norm_a, radial / norm_a),
        "ngpt": (norm_a / alpha, np.zeros(N)),
        "sqrt_scaling": (np.full(N, np.sqrt(t + 1.0)), np.zeros(N)),
    }[scheme]
    return tangent / speed[:, None], rdot


def rk4_pieces(scheme, pieces, h=1e-3, **kw):
    """RK4 on (θ, r) over consecutive [t0, t1] pieces, each with its own scheme."""
    theta, r = X0.copy(), np.ones(N)
    for piece_scheme, t0, t1 in pieces:
        steps = int(round((t1 - t0) / h))
        for k in range(steps):
            t = t0 + k * h
            f = lambda tt, th, rr: theta_r_rhs(piece_scheme, tt, th, rr, **kw)
            k1 = f(t, theta, r)
            k2 = f(t + h / 2, theta + h / 2 * k1[0], r + h / 2 * k1[1])
            k3 = f(t + h / 2, theta + h / 2 * k2[0], r + h / 2 * k2[1])
            k4 = f(t + h, theta + h * k3[0], r + h * k3[1])
            theta = theta + h / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
            r = r + h / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
            theta /= np.linalg.norm(theta, axis=1, keepdims=True)
    return r[:, None] * theta


def integrate_theta_r(scheme, t_end, tau=0.4):
    if scheme == "mix_ln":  # Post-LN on [0, τ], Pre-LN on [τ, t_end]
        return rk4_pieces(scheme, [("post_ln", 0.0, tau), ("pre_ln", tau, t_end)])
    return rk4_pieces(scheme, [(scheme, 0.0, t_end)])


def run(run_cli, tmp_path, scheme, method="dopri5", t_end=1.0, dt=0.01, extra="", observables="[]"):
    m = lambda a: np.asarray(a).tolist()
    (tmp_path / "c.toml").write_text(f"""
[model]
geometry = "sphere"
normalization = "{scheme}"
mix_tau = 0.4
ngpt_alpha = 0.8
beta = {BETA}
Q = {m(Q)}
K = {m(K)}
V = {m(V)}
{extra}
[init]
kind = "points"
points = {m(X0)}
[integrate]
method = "{method}"
dt = {dt}
t_end = {t_end}
rtol = 1e-11
atol = 1e-12
[output]
times = [{t_end}]
observables = {observables}
""")
    r = run_cli("run", "c.toml", "-o", "out", "-q")
    assert r.returncode == 0, r.stderr
    with h5py.File(tmp_path / "out" / "run.h5", "r") as f:
        return {k: f[k][:] for k in f.keys()}


@pytest.mark.parametrize("scheme", ["post_ln", "pre_ln", "mix_ln", "peri_ln", "ngpt", "sqrt_scaling"])
def test_scheme_matches_theta_r_equations(tmp_path, run_cli, scheme):
    out = run(run_cli, tmp_path, scheme)
    expected = integrate_theta_r(scheme, 1.0)
    # RK4 with h = 1e-3 has error ~1e-12; mix_ln's switch at τ = 0.4 falls on the grid.
    np.testing.assert_allclose(out["x"][0], expected, atol=1e-8)
    if scheme not in ("post_ln",):
        np.testing.assert_allclose(out["radius"][0], np.linalg.norm(expected, axis=1), atol=1e-8)


def discrete_layer(scheme, x, h=1.0, t=0.0, tau=0.4, alpha=0.8):
    r = np.linalg.norm(x, axis=1, keepdims=True)
    th = x / r
    a = attention(th)
    unit = lambda y: y / np.linalg.norm(y, axis=1, keepdims=True)
    if scheme == "mix_ln":
        scheme = "post_ln" if t < tau else "pre_ln"
    return {
        "post_ln": lambda: r * unit(th + h * a),
        "pre_ln": lambda: x + h * a,
        "peri_ln": lambda: x + h * unit(a),
        "ngpt": lambda: r * unit(th + alpha * h * (unit(a) - th)),
        "sqrt_scaling": lambda: r * unit(th + h / np.sqrt(t + 1) * a),
    }[scheme]()


@pytest.mark.parametrize("scheme", ["post_ln", "pre_ln", "mix_ln", "peri_ln", "ngpt", "sqrt_scaling"])
def test_euler_is_the_discrete_layer_of_each_scheme(tmp_path, run_cli, scheme):
    out = run(run_cli, tmp_path, scheme, method="euler", t_end=2.0, dt=1.0)
    x = X0.copy()
    for layer in range(2):
        x = discrete_layer(scheme, x, t=float(layer))
    np.testing.assert_allclose(out["x"][0], x, atol=1e-13)


def test_pre_ln_contracts_polynomially_post_ln_exponentially(tmp_path, run_cli):
    """[R] §6: 1 − ρ ~ e^{−2t} (Post-LN) vs ~ t^{−2} (Pre-LN) for Q = K = V = I (SA, β = 1)."""
    x0 = RNG.normal(size=(8, 3)) + 3.0
    x0 /= np.linalg.norm(x0, axis=1, keepdims=True)
    gaps = {}
    for scheme in ("post_ln", "pre_ln"):
        (tmp_path / "c.toml").write_text(f"""
[model]
geometry = "sphere"
normalization = "{scheme}"
[init]
kind = "points"
points = {x0.tolist()}
[integrate]
method = "dopri5"
t_end = 40.0
rtol = 1e-10
atol = 1e-13
[output]
times = [10.0, 20.0, 40.0]
observables = ["mean_cosine"]
""")
        r = run_cli("run", "c.toml", "-o", scheme, "-q")
        assert r.returncode == 0, r.stderr
        with h5py.File(tmp_path / scheme / "run.h5", "r") as f:
            gaps[scheme] = 1.0 - f["mean_cosine"][:]
    post, pre = gaps["post_ln"], gaps["pre_ln"]
    # Exponential: the gap falls by orders of magnitude from t = 10 to 20; polynomial t^{-2}: by ~4.
    assert post[1] / post[0] < 1e-5
    assert 2.0 < pre[0] / pre[1] < 8.0 and 2.0 < pre[1] / pre[2] < 8.0


def test_noise_keeps_the_uniform_law_on_the_circle(tmp_path, run_cli):
    """Strong noise (1/κ = 2 > 1/2, the Kuramoto-type incoherence threshold for β → 0) keeps the
    uniform law stationary: a χ² test of 2000 angles in 20 bins, 99.9 % quantile (19 dof) 43.8."""
    n = 2000
    angles = np.arange(n) * 2 * np.pi / n
    x0 = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    (tmp_path / "c.toml").write_text(f"""
[model]
geometry = "sphere"
beta = 1e-6
noise = 2.0
noise_seed = 5
[init]
kind = "points"
points = {x0.tolist()}
[integrate]
method = "euler"
dt = 0.01
t_end = 2.0
[output]
times = [2.0]
observables = []
""")
    r = run_cli("run", "c.toml", "-o", "a", "-q")
    assert r.returncode == 0, r.stderr
    with h5py.File(tmp_path / "a" / "run.h5", "r") as f:
        x = f["x"][0]
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-14)
    counts, _ = np.histogram(np.arctan2(x[:, 1], x[:, 0]), bins=20, range=(-np.pi, np.pi))
    expected = n / 20
    chi2 = np.sum((counts - expected) ** 2 / expected)
    assert chi2 < 43.8
    # The tokens did move (the noise is on): mean displacement ≈ √(2·2·2) ≫ 0.
    assert np.mean(np.linalg.norm(x - x0, axis=1)) > 0.5
    # Same seed → bitwise the same run; another seed → another run.
    assert run_cli("run", "c.toml", "-o", "b", "-q").returncode == 0
    assert (tmp_path / "a" / "run.h5").read_bytes() == (tmp_path / "b" / "run.h5").read_bytes()
    assert run_cli("run", "c.toml", "-o", "c", "-q", "--set", "model.noise_seed=6").returncode == 0
    with h5py.File(tmp_path / "c" / "run.h5", "r") as f:
        assert not np.array_equal(f["x"][0], x)


@pytest.mark.parametrize("setting,message", [
    ('normalization = "layer"', "error: model.normalization: unknown scheme 'layer'; allowed: none, post_ln, "
                                "pre_ln, mix_ln, peri_ln, ngpt, sqrt_scaling"),
    ('normalization = "none"', "error: model.normalization: 'none' leaves the sphere; use geometry = \"euclidean\" "
                               "for no normalisation"),
    ('ngpt_alpha = -1\nnormalization = "ngpt"', "error: model.ngpt_alpha: must be finite and > 0, got -1"),
    ('noise = -0.5', "error: model.noise: must be finite and >= 0 (the temperature 1/kappa), got -0.5"),
    ('noise = 0.5', 'error: integrate.method: model.noise > 0 needs method = "euler" (Euler-Maruyama); got "rk4"'),
])
def test_bad_scheme_settings(tmp_path, run_cli, setting, message):
    (tmp_path / "c.toml").write_text(f'[model]\ngeometry = "sphere"\n{setting}\n[init]\nn = 4\n'
                                     '[integrate]\nmethod = "rk4"\n[output]\nobservables = []\n')
    r = run_cli("run", "c.toml", "-o", "out")
    assert r.returncode == 2
    assert r.stderr == message + "\n"
