"""dtype / shape / contiguity handling, and bad input: a ValueError naming the argument, never a crash."""
import numpy as np
import pytest

import attnflow as af


@pytest.fixture
def x():
    return af.init.uniform_sphere(12, 3, seed=5)


def test_layouts_and_dtypes_that_are_accepted_give_the_same_numbers(x):
    ref = af.velocity(None, x)
    # Fortran order, a strided view, a transposed view: converted once, same result bit for bit
    np.testing.assert_array_equal(af.velocity(None, np.asfortranarray(x)), ref)
    big = np.zeros((24, 6))
    big[::2, 1:4] = x
    view = big[::2, 1:4]
    assert not view.flags.c_contiguous
    np.testing.assert_array_equal(af.velocity(None, view), ref)
    np.testing.assert_array_equal(af.velocity(None, np.ascontiguousarray(x.T).T), ref)
    # read-only input: read, never written
    ro = x.copy()
    ro.setflags(write=False)
    np.testing.assert_array_equal(af.velocity(None, ro), ref)
    # lists go through numpy.asarray(dtype=float64)
    np.testing.assert_array_equal(af.velocity(None, x.tolist()), ref)
    # float32 is widened exactly (the same as widening it yourself); on the sphere it must still be unit
    e = {"geometry": "euclidean"}
    x32 = x.astype(np.float32)
    np.testing.assert_array_equal(af.velocity(e, x32), af.velocity(e, x32.astype(np.float64)))


def test_inputs_are_never_modified(x):
    x0 = x.copy()
    w = np.full(12, 1 / 12)
    res = af.simulate(None, x, t_end=1.0, dt=0.1, weights=w)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(w, np.full(12, 1 / 12))
    res.x[0, 0, 0] = 99.0  # results are the caller's own arrays
    np.testing.assert_array_equal(x, x0)


def test_results_are_float64_c_contiguous_writable_and_not_copies(x):
    v = af.velocity(None, x)
    assert v.dtype == np.float64 and v.flags.c_contiguous and v.flags.writeable
    # the array owns the engine's buffer through a capsule: no copy was made on return
    assert v.base is not None and not isinstance(v.base, np.ndarray)
    res = af.simulate(None, x, t_end=0.5, observables=["energy"])
    for a in (res.t, res.x, res.energy):
        assert a.dtype == np.float64 and a.flags.c_contiguous
    del x
    assert np.isfinite(v).all()  # still valid: the capsule keeps the buffer alive


BAD_X = [
    (np.arange(12).reshape(4, 3), "x: must be an array of floating-point numbers (float64), got dtype int64"),
    (np.ones((4, 3), dtype=bool), "x: must be an array of floating-point numbers (float64), got dtype bool"),
    (np.ones((4, 3), dtype=complex), "x: must be an array of floating-point numbers (float64), got dtype complex128"),
    (np.array([[1.0, 0.0, 0.0]], dtype=object), "x: must be an array of floating-point numbers (float64), got dtype object"),
    (np.ones(3), "x: must be a 2-D array of shape (N, d), got shape (3,)"),
    (np.ones((2, 3, 1)), "x: must be a 2-D array of shape (N, d), got shape (2, 3, 1)"),
    (np.ones((0, 3)), "x: must hold at least one token of dimension >= 1, got shape (0, 3)"),
    ([["a", "b"]], "x: must be an array of numbers, got list"),
    ([[1.0, 0.0], [1.0]], "x: must be an array of numbers, got list"),
    ("tokens", "x: must be an array of numbers, got str"),
    (None, "x: is required, got None"),
]


@pytest.mark.parametrize("bad,message", BAD_X, ids=[m.split(", got")[-1] for _, m in BAD_X])
def test_bad_token_arrays_raise_value_errors_naming_x(bad, message):
    for f in (lambda v: af.velocity(None, v), lambda v: af.energy(None, v), lambda v: af.clusters(v)):
        with pytest.raises(ValueError) as e:
            f(bad)
        assert str(e.value) == message
        assert isinstance(e.value, af.InputError) and e.value.key == "x"


def test_nan_and_inf_are_refused_with_their_position(x):
    y = x.copy()
    y[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"^x: must contain finite numbers only, got nan at \[2, 1\]$"):
        af.velocity(None, y)
    y[2, 1] = -np.inf
    with pytest.raises(ValueError, match=r"^x0: must contain finite numbers only, got -inf at \[2, 1\]$"):
        af.simulate(None, y, t_end=1.0)
    with pytest.raises(ValueError, match=r"^t: must be finite, got nan$"):
        af.velocity(None, x, t=float("nan"))


def test_sphere_needs_unit_vectors_with_the_cli_message(x):
    with pytest.raises(ValueError, match=r"^x: token 0 has norm 2; geometry 'sphere' needs unit vectors"):
        af.velocity(None, 2 * x)
    af.velocity({"geometry": "euclidean"}, 2 * x)  # fine in R^d


@pytest.mark.parametrize("weights,message", [
    (np.ones(5) / 5, "weights: must be a 1-D array with one entry per token (N = 12), got shape (5,)"),
    (np.full(12, 0.1), "weights: must sum to 1, got 1.2"),
    (np.r_[-0.5, np.full(11, 1.5 / 11)], "weights: must be finite and >= 0, got -0.5"),
    (np.r_[np.nan, np.ones(11) / 11], "weights: must contain finite numbers only, got nan at [0]"),
    (np.ones(12, dtype=int), "weights: must be an array of floating-point numbers (float64), got dtype int64"),
    (np.ones((12, 1)) / 12, "weights: must be a 1-D array with one entry per token (N = 12), got shape (12, 1)"),
])
def test_bad_weights(x, weights, message):
    with pytest.raises(ValueError) as e:
        af.velocity(None, x, weights=weights)
    assert str(e.value) == message


def test_other_arguments_are_named(x):
    with pytest.raises(ValueError, match=r"^positions: must be a 1-D array with one entry per token"):
        af.velocity({"causal": True}, x, positions=[0.0, 1.0])
    with pytest.raises(ValueError, match=r"^y: must have the dimension of x \(d = 3\), got d = 2$"):
        af.wasserstein2(x, x[:, :2])
    with pytest.raises(ValueError, match=r"^b: must sum to 1"):
        af.wasserstein2(x, x, b=np.ones(12))
    with pytest.raises(ValueError, match=r"^threshold: must lie in \(0, 2\), got 5$"):
        af.clusters(x, threshold=5)
    with pytest.raises(ValueError, match=r"^cov: must be a 2x2 matrix, got shape \(3, 3\)$"):
        af.gaussian.simulate({"geometry": "euclidean"}, [0.0, 0.0], np.eye(3), 1.0)
    with pytest.raises(ValueError, match=r"^cov: "):
        af.gaussian.simulate({"geometry": "euclidean"}, [0.0, 0.0], [[1.0, 0.0], [0.0, -1.0]], 1.0)
    with pytest.raises(ValueError, match=r"^mean: must be an array of floating-point"):
        af.gaussian.simulate({"geometry": "euclidean"}, np.array([0, 0]), np.eye(2), 1.0)
    with pytest.raises(ValueError, match=r"^rho0: "):
        af.equiangular.solve(4, 1.0, -0.9, t_end=1.0)
    with pytest.raises(ValueError, match=r"^normalization: unknown scheme 'nope'"):
        af.equiangular.solve(4, 1.0, 0.1, t_end=1.0, normalization="nope")
    with pytest.raises(ValueError, match=r"^model: must be a dict \(a TOML \[model\] table\) or an attnflow.Model, got str$"):
        af.velocity("softmax", x)
    with pytest.raises(ValueError, match=r"^model.Q: cannot be given as object"):
        af.velocity({"Q": object()}, x)
    with pytest.raises(ValueError, match=r"^model.heads\[0\].V: must have d = 3 columns, got 3x2$"):
        af.velocity({"heads": [{"V": np.ones((3, 2))}]}, x)
    with pytest.raises(ValueError, match=r"^model.V\[1\]: must not be None"):
        af.velocity({"V": [[1.0, 0, 0], None, [0, 0, 1.0]]}, x)
    with pytest.raises(ValueError, match=r"^n: must be at least 1, got 0$"):
        af.init.uniform_sphere(0, 3)


def test_numpy_scalars_and_arrays_in_a_model_are_accepted(x):
    ref = af.velocity({"beta": 2.0, "sinkhorn_iters": 3, "causal": False, "Q": np.eye(3).tolist()}, x)
    got = af.velocity({"beta": np.float64(2.0), "sinkhorn_iters": np.int64(3), "causal": np.bool_(False),
                       "Q": np.eye(3, dtype=np.float32)}, x)
    np.testing.assert_array_equal(got, ref)


GARBAGE = [None, "x", 3, 3.5, [], [[]], {"a": 1}, np.ones((3, 3, 3)), np.array([]), object(),
           [[1, 2], [3]], np.ones((2, 0)), np.full((2, 3), np.inf), b"bytes"]


def test_garbage_never_crashes():
    x = af.init.uniform_sphere(4, 3)
    calls = [
        lambda g: af.velocity(None, g), lambda g: af.velocity(g, x), lambda g: af.velocity(None, x, weights=g),
        lambda g: af.simulate(None, g, 1.0), lambda g: af.simulate(None, x, g), lambda g: af.simulate(None, x, 1.0, dt=g),
        lambda g: af.simulate(None, x, 1.0, times=g), lambda g: af.simulate(None, x, 1.0, observables=g),
        lambda g: af.energy(g, x), lambda g: af.clusters(g), lambda g: af.wasserstein2(x, g),
        lambda g: af.gaussian.simulate({"geometry": "euclidean"}, g, np.eye(3), 1.0), lambda g: af.load(g),
        lambda g: af.Model(g), lambda g: af.equiangular.solve(4, 1.0, 0.1, times=g),
    ]
    for call in calls:
        for g in GARBAGE:
            try:
                call(g)
            except (ValueError, TypeError):
                pass
