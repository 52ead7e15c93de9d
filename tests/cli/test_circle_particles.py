"""`attnflow circle-particles`: tokens on S^1 at any beta, in flow or arc-length time ([R] §5.2)."""
import json
import math

import h5py
import numpy as np
import pytest

STAIRCASE = """
[model]
kernel = "usa"
beta = 2500.0
[init]
angles = [0.0, 0.05, 0.2, 0.45]
[integrate]
time = "arc_length"
t_end = 0.3
snap_distance = 1e-9
[output]
every = 0.001
"""


def test_staircase_in_arc_length(tmp_path, run_cli):
    (tmp_path / "s.toml").write_text(STAIRCASE)
    r = run_cli("circle-particles", "s.toml", "-o", "out", "--threads", "1")
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    # closest pair first (gaps 0.05, 0.15, 0.25): (2,1,1) -> (3,1) -> (4)
    assert summary["cluster_patterns"] == ["1+1+1+1", "2+1+1", "3+1", "4"]
    with h5py.File(tmp_path / "out" / "particles.h5", "r") as f:
        s, energy, x = f["t"][:], f["normalized_energy"][:], f["x"][:]
        assert f.attrs["time"] == "arc_length" and x.shape == (301, 4, 1)
        clusters, speed = f["clusters"][:], f["speed"][:]
    # the energy is recomputed from the angles, nondecreasing, and ends at one cluster
    th = x[:, :, 0]
    recomputed = np.exp(2500.0 * (np.cos(th[:, :, None] - th[:, None, :]) - 1)).sum(axis=(1, 2)) / 16
    np.testing.assert_allclose(energy, recomputed, rtol=1e-12)
    assert np.diff(energy).min() > -1e-12 and energy[-1] == pytest.approx(1.0, abs=1e-14)
    # first merge: the pair closes along a straight line over g sqrt(w_a w_b / (w_a + w_b)) of
    # Wasserstein arc length (w = 1/4); detected on the 1e-3 grid
    first = s[np.nonzero(np.diff(clusters))[0][0] + 1]
    assert 0.05 * math.sqrt(1 / 8) <= first < 0.05 * math.sqrt(1 / 8) + 1e-3
    # the speed column is the flow's ||F||_w in t' = e^beta t, recomputed here from the angles
    # (per-pair sines, so snapped tokens contribute exactly 0); its plateaus reach e^{-beta(1-cos g)}
    diff = th[:, :, None] - th[:, None, :]
    rate = -(np.exp(2500.0 * (np.cos(diff) - 1)) * np.sin(diff)).sum(axis=2) / 4
    np.testing.assert_allclose(speed, np.sqrt((rate ** 2).sum(axis=1) / 4), rtol=1e-6, atol=1e-300)
    assert speed[speed > 0].min() < 1e-30


def test_flow_time_matches_the_cartesian_engine(tmp_path, run_cli):
    """At moderate beta the angle solver in flow time (t' = e^beta t) and `attnflow run` on the
    circle with V = e^{-beta} I integrate the same ODE."""
    beta, angles = 3.0, [0.1, 1.0, 2.5, 4.0]
    (tmp_path / "a.toml").write_text(
        f'[model]\nkernel = "usa"\nbeta = {beta}\n[init]\nangles = {angles}\n'
        '[integrate]\nt_end = 2.0\nrtol = 1e-11\natol = 1e-13\n[output]\ntimes = [0.0, 1.0, 2.0]\n')
    c = math.exp(-beta)
    points = [[math.cos(a), math.sin(a)] for a in angles]
    (tmp_path / "b.toml").write_text(
        f'[model]\ngeometry = "circle"\nkernel = "usa"\nbeta = {beta}\nV = [[{c!r}, 0.0], [0.0, {c!r}]]\n'
        f'[init]\nkind = "points"\npoints = {points}\n'
        '[integrate]\nmethod = "dopri5"\nrtol = 1e-11\natol = 1e-13\nt_end = 2.0\n'
        '[output]\ntimes = [0.0, 1.0, 2.0]\n')
    assert run_cli("circle-particles", "a.toml", "-o", "a", "-q").returncode == 0
    r = run_cli("run", "b.toml", "-o", "b", "-q")
    assert r.returncode == 0, r.stderr
    with h5py.File(tmp_path / "a" / "particles.h5", "r") as fa, h5py.File(tmp_path / "b" / "run.h5", "r") as fb:
        theta = fa["x"][:, :, 0]
        xb = fb["x"][:]
    np.testing.assert_allclose(np.cos(theta), xb[:, :, 0], atol=1e-9)
    np.testing.assert_allclose(np.sin(theta), xb[:, :, 1], atol=1e-9)


BASE = STAIRCASE.replace("t_end = 0.3", "t_end = 0.01")


@pytest.mark.parametrize("config, message", [
    (BASE.replace("angles = [0.0, 0.05, 0.2, 0.45]", ""),
     "error: init.angles: is required: the initial angles of the tokens (rad)"),
    (BASE.replace('time = "arc_length"', 'time = "depth"'),
     "error: integrate.time: unknown time 'depth'; allowed: flow, arc_length"),
    (BASE.replace("snap_distance = 1e-9", "snap_distance = -1"),
     "error: integrate.snap_distance: must lie in [0, 0.1] rad (0: never snap), got -1"),
    (BASE.replace("beta = 2500.0", "beta = 2e6"), "error: model.beta: must lie in [0, 1e6], got 2e+06"),
    (BASE.replace('kernel = "usa"', 'kernel = "l2"'),
     "error: model.kernel: the circle dynamics is defined for softmax (SA) and usa ([R] eq. (kuramoto)); "
     "allowed: softmax, usa"),
    (BASE.replace("[integrate]", "[integrate]\nmethod = \"rk4\""),
     'error: integrate.dt: is required with method = "rk4"'),
    (BASE + "weights = [1, 2]\n", None),
    (BASE.replace("angles = [0.0, 0.05, 0.2, 0.45]", "angles = [0.0, 0.05, 0.2, 0.45]\nweights = [1, 2]"),
     "error: init.weights: must have one weight per angle (4), got 2"),
    (BASE.replace("angles = [0.0, 0.05, 0.2, 0.45]", "angles = [0.0, nan]"),
     "error: init.angles[1]: must be a finite number, got nan"),
    (BASE + "[grid]\ncells = 4\n", "error: grid: unknown section; allowed: model, init, integrate, output"),
])
def test_bad_config(tmp_path, run_cli, config, message):
    (tmp_path / "c.toml").write_text(config)
    r = run_cli("circle-particles", "c.toml", "-o", "out")
    if message is None:  # weights under [output] are an unknown key there
        assert r.returncode == 2 and r.stderr.startswith("error: output.weights: unknown key")
        return
    assert r.returncode == 2
    assert r.stderr.strip() == message
    assert not (tmp_path / "out" / "particles.h5").exists()
