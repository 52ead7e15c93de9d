"""`attnflow circle`: the mean-field PDE on S^1 next to particles (docs/reduced_models.md §4)."""
import json
import math

import h5py
import numpy as np
import pytest

CONFIG = """
[model]
kernel = "usa"
beta = 2.0
[init]
kind = "perturbed_uniform"
modes = [1, 3]
amplitudes = [0.3, 0.1]
[grid]
cells = 128
[particles]
n = [20, 200]
seed = 3
dt = 0.05
trajectory = true
[integrate]
t_end = 1.0
[output]
every = 0.25
"""


def bessel_i(m, x):
    """I_m(x) by its power series (independent of the C++ std::cyl_bessel_i)."""
    return sum((x / 2) ** (2 * k + m) / (math.factorial(k) * math.factorial(k + m)) for k in range(60))


def test_pde_and_particles(tmp_path, run_cli):
    (tmp_path / "c.toml").write_text(CONFIG)
    r = run_cli("circle", "c.toml", "-o", "out", "--threads", "1")
    assert r.returncode == 0, r.stderr
    with h5py.File(tmp_path / "out" / "circle.h5", "r") as f:
        np.testing.assert_array_equal(f["t"][:], [0.0, 0.25, 0.5, 0.75, 1.0])
        rho = f["density"][:]
        assert rho.shape == (5, 128)
        theta = f["theta"][:]
        np.testing.assert_allclose(theta, (np.arange(128) + 0.5) * 2 * np.pi / 128)
        # mass to round-off, positivity, and the columns recomputed from the density
        np.testing.assert_allclose(f["mass"][:], 1.0, atol=1e-13)
        np.testing.assert_allclose(rho.sum(axis=1) * 2 * np.pi / 128, f["mass"][:], rtol=1e-14)
        assert np.all(f["min_density"][:] >= 0) and f["min_density"][0] == rho[0].min()
        order = np.abs((rho * np.exp(1j * theta)).sum(axis=1)) * 2 * np.sin(np.pi / 128)
        np.testing.assert_allclose(f["order_parameter"][:], order, rtol=1e-12)
        # USA is an energy ascent
        assert np.all(np.diff(f["energy"][:]) > 0)
        # growth rates: lambda_m = (m/2)(I_{m-1}(beta) - I_{m+1}(beta)) for USA
        rates = f["growth_rates"][:]
        for m in range(1, 8):
            assert rates[m - 1] == pytest.approx(0.5 * m * (bessel_i(m - 1, 2.0) - bessel_i(m + 1, 2.0)), rel=1e-12)
        assert f.attrs["most_unstable_mode"] == 1 + int(np.argmax(rates))
        w20, w200 = f["w1_n20"][:], f["w1_n200"][:]
        assert np.all(w200 > 0) and w200.mean() < w20.mean()
    with h5py.File(tmp_path / "out" / "particles_n200.h5", "r") as f:
        assert f["x"].shape == (5, 200, 1)
        angles = f["x"][:, :, 0]
        np.testing.assert_allclose(f["order_parameter"][:], np.abs(np.exp(1j * angles).mean(axis=1)), rtol=1e-12)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["mass_error"] < 1e-13
    assert [p["n"] for p in summary["particles"]] == [20, 200]
    assert "most unstable mode" in r.stdout


BAD = [
    ("coarse", CONFIG.replace("beta = 2.0", "beta = 100.0"),
     "error: grid.cells: a grid of 128 cells is too coarse for beta = 100: the kernel exp(beta cos) has width "
     "1/sqrt(beta) = 0.1 rad and needs 4 cells across it; use cells >= 252"),
    ("kernel", CONFIG.replace('kernel = "usa"', 'kernel = "l2"'),
     "error: model.kernel: the circle dynamics is defined for softmax (SA) and usa ([R] eq. (kuramoto)); "
     "allowed: softmax, usa"),
    ("amplitudes", CONFIG.replace("[0.3, 0.1]", "[0.8, 0.3]"),
     "error: init.amplitudes: the sum of |amplitudes| must be < 1 so that the density stays positive, got 1.1"),
    ("section", CONFIG + "\n[solver]\nx = 1\n",
     "error: solver: unknown section; allowed: model, init, grid, particles, integrate, output"),
    ("cfl", CONFIG.replace("cells = 128", "cells = 128\ncfl = 0.9"),
     "error: grid.cfl: must lie in (0, 0.5] (positivity needs dt max|u| <= dx/2), got 0.9"),
    ("geometry", CONFIG.replace("[model]", '[model]\ngeometry = "sphere"'),
     "error: model.geometry: attnflow circle simulates geometry = \"circle\", got 'sphere'"),
]


@pytest.mark.parametrize("name,config,message", BAD, ids=[b[0] for b in BAD])
def test_bad_input(tmp_path, run_cli, name, config, message):
    (tmp_path / "c.toml").write_text(config)
    r = run_cli("circle", "c.toml", "-o", "out")
    assert r.returncode == 2
    assert r.stderr.strip() == message
    assert not (tmp_path / "out").exists()
