"""The Python API against independent computations: dense NumPy attention, closed forms, finite
differences, brute-force optimal transport, [R]'s equiangular ODE integrated in NumPy."""
import itertools
import threading
import time

import numpy as np
import pytest

import attnflow as af


# ---------------------------------------------------------------------------------------------
# A dense NumPy reference of the attention field (docs/kernels.md), written from the formulas.

def dense_velocity(x, heads, beta=1.0, kernel="softmax", geometry="sphere", w=None, causal=False, pos=None,
                   bias=None):
    n, d = x.shape
    w = np.full(n, 1.0 / n) if w is None else np.asarray(w)
    pos = np.arange(n, dtype=float) if pos is None else np.asarray(pos)
    allowed = pos[None, :] <= pos[:, None] if causal else np.ones((n, n), bool)
    out = np.zeros_like(x)
    for Q, K, V, W in heads:
        if kernel == "l2":
            diff = (x @ Q.T)[:, None, :] - (x @ K.T)[None, :, :]
            s = -beta * np.sum(diff ** 2, axis=2)
        else:
            s = beta * (x @ Q.T) @ (x @ K.T).T
        s = np.where(allowed, s, -np.inf)
        if kernel in ("softmax", "l2"):
            p = w[None, :] * np.exp(s - s.max(axis=1, keepdims=True))
            a = p / p.sum(axis=1, keepdims=True)
        elif kernel == "usa":
            a = w[None, :] * np.exp(s)
        elif kernel == "sigmoid":
            b = -np.log(n) if bias is None else bias
            a = np.where(allowed, w[None, :] * np.exp(-b) / (1.0 + np.exp(-(s + b))), 0.0)
        else:
            raise ValueError(kernel)
        y = a @ (x @ V.T)
        out += y if W is None else y @ W.T
    if geometry == "sphere":
        out -= np.sum(out * x, axis=1, keepdims=True) * x
    return out


def dense_energy(x, heads, beta, w=None):
    n = len(x)
    w = np.full(n, 1.0 / n) if w is None else np.asarray(w)
    return sum(w @ np.exp(beta * (x @ Q.T) @ (x @ K.T).T) @ w for Q, K, _, _ in heads) / (2 * beta)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def sphere_tokens(rng, n, d):
    x = rng.standard_normal((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("kernel", ["softmax", "usa", "l2", "sigmoid"])
def test_velocity_equals_dense_numpy_for_every_kernel(rng, kernel):
    x = sphere_tokens(rng, 37, 4)
    Q, K, V = (rng.standard_normal((4, 4)) * 0.7 for _ in range(3))
    model = {"kernel": kernel, "beta": 1.3, "Q": Q, "K": K, "V": V}
    v = af.velocity(model, x)
    ref = dense_velocity(x, [(Q, K, V, None)], 1.3, kernel)
    np.testing.assert_allclose(v, ref, rtol=1e-11, atol=1e-12)
    assert v.shape == x.shape and v.dtype == np.float64 and v.flags.c_contiguous


def test_velocity_multi_head_euclidean_with_masses_and_causal_mask(rng):
    n, d, dv = 29, 3, 2
    x = rng.standard_normal((n, d))
    heads = []
    for _ in range(2):
        heads.append((rng.standard_normal((2, d)), rng.standard_normal((2, d)), rng.standard_normal((dv, d)),
                      rng.standard_normal((d, dv))))
    w = rng.random(n)
    w /= w.sum()
    pos = rng.integers(0, 7, n).astype(float)  # repeated positions see each other
    model = af.Model(geometry="euclidean", beta=0.6, causal=True,
                     heads=[{"Q": Q, "K": K, "V": V, "W": W} for Q, K, V, W in heads])
    v = af.velocity(model, x, weights=w, positions=pos)
    ref = dense_velocity(x, heads, 0.6, "softmax", "euclidean", w=w, causal=True, pos=pos)
    np.testing.assert_allclose(v, ref, rtol=1e-11, atol=1e-12)


def test_attention_is_the_unprojected_field_and_velocity_its_tangent_part(rng):
    x = sphere_tokens(rng, 20, 3)
    a = af.attention(None, x)
    ref = dense_velocity(x, [(np.eye(3), np.eye(3), np.eye(3), None)], 1.0, "softmax", "euclidean")
    np.testing.assert_allclose(a, ref, rtol=1e-12, atol=1e-14)
    v = af.velocity(None, x)
    np.testing.assert_allclose(np.sum(v * x, axis=1), 0.0, atol=1e-14)
    np.testing.assert_allclose(v, a - np.sum(a * x, axis=1, keepdims=True) * x, atol=1e-14)


def test_sinkhorn_with_one_iteration_is_softmax(rng):
    x = sphere_tokens(rng, 25, 3)
    soft = af.velocity({"kernel": "softmax", "beta": 2.0}, x)
    sink = af.velocity({"kernel": "sinkhorn", "beta": 2.0, "sinkhorn_iters": 1}, x)
    np.testing.assert_array_equal(soft, sink)
    assert not np.array_equal(soft, af.velocity({"kernel": "sinkhorn", "beta": 2.0}, x))


def test_energy_equals_dense_sum_and_variants(rng):
    x = sphere_tokens(rng, 31, 3)
    Q, K = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    model = {"beta": 2.5, "Q": Q, "K": K}
    assert af.energy(model, x) == pytest.approx(dense_energy(x, [(Q, K, None, None)], 2.5), rel=1e-12)
    assert af.energy(model, x, kind="energy_b") == pytest.approx(2.5 * af.energy(model, x), rel=1e-12)
    assert af.energy(model, x, log=True) == pytest.approx(np.log(af.energy(model, x)), rel=1e-12)
    g = x @ x.T
    assert af.energy({"beta": 3.0}, x, kind="normalized_energy") == pytest.approx(
        np.mean(np.exp(3.0 * (g - 1))), rel=1e-12)
    w = rng.random(31)
    w /= w.sum()
    assert af.energy(model, x, weights=w) == pytest.approx(dense_energy(x, [(Q, K, None, None)], 2.5, w), rel=1e-12)
    with pytest.raises(ValueError, match="^kind: unknown energy 'nope'"):
        af.energy(model, x, kind="nope")


def test_energy_gradient_matches_finite_differences(rng):
    x = rng.standard_normal((9, 3)) * 0.5
    model = {"geometry": "euclidean", "beta": 1.7, "Q": rng.standard_normal((3, 3)), "K": rng.standard_normal((3, 3))}
    g = af.energy_gradient(model, x)
    h = 1e-6
    fd = np.zeros_like(x)
    for i, c in itertools.product(range(9), range(3)):
        e = np.zeros_like(x)
        e[i, c] = h
        fd[i, c] = (af.energy(model, x + e) - af.energy(model, x - e)) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-9)


def test_clusters_match_a_numpy_union_find(rng):
    # three tight groups and two loners on S^3
    centers = sphere_tokens(rng, 5, 4)
    x = np.concatenate([centers[k] + 1e-3 * rng.standard_normal((m, 4)) for k, m in enumerate([7, 5, 4, 1, 1])])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    c = af.clusters(x, threshold=1e-3)
    # independent: components of the graph <x_i, x_j> > 1 - δ by repeated relabelling
    linked = x @ x.T > 1 - 1e-3
    label = np.arange(len(x))
    for _ in range(len(x)):
        label = np.min(np.where(linked, label[None, :], len(x)), axis=1)
    _, expected = np.unique(label, return_inverse=True)
    assert c.count == len(np.unique(expected)) == 5
    # same partition (labels numbered by first appearance)
    for i, j in itertools.combinations(range(len(x)), 2):
        assert (c.labels[i] == c.labels[j]) == (expected[i] == expected[j])
    assert list(c.sizes) == [7, 5, 4, 1, 1]
    n = len(x)
    assert c.pair_fraction == pytest.approx((linked.sum() - n) / 2 / (n * (n - 1) / 2))
    assert af.clusters(x[:, :3] / np.linalg.norm(x[:, :3], axis=1, keepdims=True)).count >= 1  # d ≤ 3 path


def test_wasserstein2_exact_equals_brute_force_assignment(rng):
    x, y = rng.standard_normal((6, 2)), rng.standard_normal((6, 2)) + 0.5
    best = min(np.mean(np.sum((x - y[list(p)]) ** 2, axis=1)) for p in itertools.permutations(range(6)))
    assert af.wasserstein2(x, y) == pytest.approx(np.sqrt(best), rel=1e-9)
    assert af.wasserstein2(x, x) == pytest.approx(0.0, abs=1e-7)
    assert af.wasserstein2(x, y, method="sinkhorn", epsilon=1e-3) == pytest.approx(np.sqrt(best), rel=0.05)
    with pytest.raises(ValueError, match="^method: unknown method"):
        af.wasserstein2(x, y, method="nope")


def test_gaussian_w2_closed_form_for_commuting_covariances():
    m1, m2 = np.array([0.0, 1.0]), np.array([2.0, -1.0])
    s1, s2 = np.diag([1.0, 4.0]), np.diag([9.0, 1.0])
    expected = np.sum((m1 - m2) ** 2) + np.sum((np.sqrt(np.diag(s1)) - np.sqrt(np.diag(s2))) ** 2)
    assert af.gaussian.w2(m1, s1, m2, s2) == pytest.approx(np.sqrt(expected), rel=1e-12)


def test_gaussian_solution_blows_up_at_the_closed_form_time():
    # Q = K = V = I, softmax, Σ(0) = s0 I: Σ̇ = 2βΣ², so s(t) = s0 / (1 − 2β s0 t), t* = 1/(2β s0); m(0) = 0 stays 0.
    beta, s0 = 0.5, 0.8
    res = af.gaussian.simulate({"geometry": "euclidean", "beta": beta}, [0.0, 0.0], s0 * np.eye(2), t_end=2.0,
                               method="dopri5", rtol=1e-11, atol=1e-13, times=[0.0, 0.5, 1.0, 2.0])
    np.testing.assert_array_equal(res.t, [0.0, 0.5, 1.0])  # frames stop before t* = 1.25
    t_star = 1 / (2 * beta * s0)
    np.testing.assert_allclose(res.cov[:, 0, 0], s0 / (1 - 2 * beta * s0 * res.t), rtol=1e-8)
    np.testing.assert_allclose(res.cov[:, 0, 1], 0.0, atol=1e-12)
    assert res.blowup_time == pytest.approx(t_star, rel=1e-3)
    assert res.trace.shape == (3,)
    b, M = af.gaussian.field({"geometry": "euclidean", "beta": beta}, [1.0, 0.0], s0 * np.eye(2))
    # v(x) = V(m + ΣA x) = m + β s0 x
    np.testing.assert_allclose(b, [1.0, 0.0], atol=1e-14)
    np.testing.assert_allclose(M, beta * s0 * np.eye(2), atol=1e-14)


def rk4(f, y0, t):
    ys = [y0]
    for a, b in zip(t[:-1], t[1:]):
        h, y = b - a, ys[-1]
        k1 = f(y)
        k2 = f(y + h / 2 * k1)
        k3 = f(y + h / 2 * k2)
        k4 = f(y + h * k3)
        ys.append(y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4))
    return np.array(ys)


def test_equiangular_solve_matches_the_formula_of_R_and_the_particles():
    n, beta, rho0 = 5, 1.5, 0.1
    t = np.linspace(0, 3, 3001)
    sa = lambda r: 2 * np.exp(beta * r) * (1 - r) * ((n - 1) * r + 1) / (np.exp(beta) + (n - 1) * np.exp(beta * r))
    ref = rk4(sa, rho0, t)
    res = af.equiangular.solve(n, beta, rho0, times=t[::300])
    np.testing.assert_allclose(res.rho, ref[::300], rtol=1e-9, atol=1e-11)
    np.testing.assert_array_equal(res.r, 1.0)
    # the particle system started equiangular stays equiangular with the same ρ(t)
    x0 = af.init.equiangular(n, n, rho0)
    sim = af.simulate({"beta": beta}, x0, t_end=3.0, times=t[::300], method="dopri5", rtol=1e-11, atol=1e-13,
                      observables=["mean_cosine"])
    np.testing.assert_allclose(sim.mean_cosine, ref[::300], rtol=1e-8, atol=1e-10)
    usa = af.equiangular.solve(n, beta, rho0, t_end=1.0, points=10, kernel="usa")
    f = lambda r: (2 / n) * np.exp(beta * r) * (1 - r) * ((n - 1) * r + 1)
    np.testing.assert_allclose(usa.rho, rk4(f, rho0, np.linspace(0, 1, 1001))[::100], rtol=1e-9)
    th = af.equiangular.hitting_time(n, beta, rho0, threshold=0.9)
    assert np.interp(0.9, ref, t) == pytest.approx(th, rel=1e-6)


def test_simulate_records_observables_and_sa_ascends_the_energy():
    x0 = af.init.uniform_sphere(40, 3, seed=3)
    res = af.simulate(af.Model(beta=1.0), x0, t_end=4.0, dt=0.05, every=0.5,
                      observables=["energy", "clusters", "energy_rate"])
    np.testing.assert_allclose(res.t, np.arange(9) * 0.5)
    assert res.x.shape == (9, 40, 3) and res.x.flags.c_contiguous
    np.testing.assert_array_equal(res.x[0], x0)
    np.testing.assert_allclose(np.linalg.norm(res.x, axis=2), 1.0, atol=1e-12)
    assert np.all(np.diff(res.energy) > 0) and np.all(res.energy_rate > 0)
    for k in (0, 4, 8):  # observables are those of the recorded frames
        assert res.energy[k] == pytest.approx(dense_energy(res.x[k], [(np.eye(3), np.eye(3), None, None)], 1.0),
                                              rel=1e-12)
        assert res.clusters[k] == af.clusters(res.x[k]).count
    assert res["energy"] is res.observables["energy"]
    with pytest.raises(AttributeError, match="observables recorded: energy, clusters, energy_rate"):
        res.mean_cosine
    assert "steps" in repr(res) and res.steps == 80
    nt = af.simulate(None, x0, t_end=1.0, trajectory=False)
    assert nt.x is None and len(nt.t) == 101


def test_model_object():
    m = af.Model({"kernel": "usa"}, beta=2.0)
    assert m.to_dict() == {"kernel": "usa", "beta": 2.0}
    assert m.replace(beta=None).to_dict() == {"kernel": "usa"}
    assert m == af.Model(kernel="usa", beta=2.0) and m != af.Model(kernel="usa", beta=3.0)
    assert af.Model(Q=np.eye(2)) == af.Model(Q=[[1.0, 0.0], [0.0, 1.0]])
    r = af.Model(Q=np.eye(3) * 2).resolve(3)
    assert r["kernel"] == "softmax" and r["geometry"] == "sphere" and r["beta"] == 1.0
    np.testing.assert_array_equal(r["heads"][0]["Q"], 2 * np.eye(3))
    assert r["heads"][0]["W"] is None
    m2 = af.Model.from_toml('[model]\nkernel = "l2"\nbeta = 0.5\n[init]\nn = 3\n')
    assert m2.to_dict() == {"kernel": "l2", "beta": 0.5}
    assert "kernel='usa'" in repr(m)
    d = m.to_dict()
    d["beta"] = 7.0
    assert m.to_dict()["beta"] == 2.0  # to_dict is a copy
    names = [k["name"] for k in af.kernels()]
    assert names[:2] == ["softmax", "usa"] and "sinkhorn" in names
    assert "energy" in [o["name"] for o in af.observables()]


def test_the_gil_is_released_during_simulation():
    x0 = af.init.uniform_sphere(600, 3, seed=1)
    done = threading.Event()
    count = [0, 0]

    def work():
        af.simulate(None, x0, t_end=20.0, dt=0.05, every=20.0)  # ~10x the 50 ms sleep below, even on an idle machine
        done.set()

    thread = threading.Thread(target=work)
    thread.start()
    time.sleep(0.05)
    start = time.perf_counter()
    while not done.is_set():
        count[0] += 1
    elapsed = time.perf_counter() - start
    thread.join()
    # With the GIL held by the engine this loop could not run while simulate works (a few iterations
    # at most, at switch intervals); released, it spins freely.
    assert elapsed > 0.05, "simulation too short to tell"
    assert count[0] > 10000, f"only {count[0]} iterations in {elapsed:.2f} s"


def test_results_do_not_depend_on_the_thread_count():
    x0 = af.init.uniform_sphere(5000, 3, seed=2)  # above the engine's parallel threshold
    before = af.get_threads()
    try:
        af.set_threads(1)
        one = af.velocity({"beta": 3.0}, x0)
        af.set_threads(2)
        assert af.get_threads() == 2
        two = af.velocity({"beta": 3.0}, x0)
    finally:
        af.set_threads(before)
    np.testing.assert_array_equal(one, two)
    with pytest.raises(ValueError, match="^threads: must be >= 0"):
        af.set_threads(-1)


def test_every_public_function_has_a_docstring_and_physics_ones_cite_a_paper():
    import inspect
    modules = [af, af.gaussian, af.equiangular, af.init, af.plot, af.animate]
    for module in modules:
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                assert obj.__doc__ and len(obj.__doc__.strip()) > 20, f"{module.__name__}.{name}"
    for f in (af.velocity, af.attention, af.simulate, af.energy, af.energy_gradient, af.clusters, af.wasserstein2,
              af.Model, af.gaussian.simulate, af.gaussian.field, af.equiangular.solve, af.equiangular.hitting_time,
              af.init.uniform_sphere, af.plot.sphere, af.plot.phase_diagram, af.plot.covariance_cone,
              af.plot.normalization_schemes, af.animate.tokens):
        assert any(tag in f.__doc__ for tag in ("[C]", "[B]", "[M]", "[R]")), f.__qualname__
