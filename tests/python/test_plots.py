"""Plots and animations: files of the expected size and frame count, PNGs that are not blank, and the
`attnflow plot` / `attnflow animate` commands."""
import pathlib
import shutil
import subprocess

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

import attnflow as af  # noqa: E402


def run_config(d, n=16):
    return {"model": {"beta": 1.0}, "init": {"n": n, "d": d, "seed": 2},
            "integrate": {"dt": 0.1, "t_end": 6.0},
            "output": {"every": 0.5, "observables": ["energy", "clusters", "mean_cosine"]}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    for d in (2, 3):
        af.run(run_config(d), root / f"d{d}")
    return root


def ink(path):
    """Fraction of pixels that differ from the background (the corner pixel)."""
    img = mpimg.imread(path)[..., :3]
    return float(np.mean(np.any(np.abs(img - img[0, 0]) > 0.05, axis=-1)))


def test_ink_detects_a_blank_png(tmp_path):
    fig = plt.figure(figsize=(2, 2))
    fig.savefig(tmp_path / "blank.png")
    plt.close(fig)
    assert ink(tmp_path / "blank.png") == 0.0


def test_run_figures_d3_and_d2(runs, tmp_path):
    written = af.plot.run_figures(runs / "d3", tmp_path / "f3", dpi=60)
    assert sorted(p.name for p in written) == ["gram.png", "observables.png", "tokens.png"]
    for p in written:
        assert p.stat().st_size > 5000, p
        assert ink(p) > 0.01, p
    w, h = Image.open(tmp_path / "f3" / "tokens.png").size
    assert (w, h) == (330, 330)  # 5.5 in × 60 dpi
    written = af.plot.run_figures(runs / "d2", tmp_path / "f2", dpi=60, log_time=True, fmt="png")
    assert sorted(p.name for p in written) == ["angles.png", "gram.png", "observables.png", "tokens.png"]
    assert all(ink(p) > 0.01 for p in written)
    pdf = af.plot.run_figures(runs / "d2", tmp_path / "pdf", fmt="pdf")
    assert all(p.read_bytes().startswith(b"%PDF") for p in pdf)


def test_plot_functions_draw_what_they_are_given():
    res = af.simulate(None, af.init.uniform_sphere(10, 3, seed=1), 3.0, every=0.5, observables=["energy", "clusters"])
    ax = af.plot.sphere(res.x[-1], trajectory=res.x)
    assert len(ax.lines) == 10 + 0 and len(ax.collections) >= 2  # one path per token, wireframe + tokens
    plt.close(ax.figure)
    ax = af.plot.observable(res.t, res.clusters, name="clusters", log_time=True)
    assert ax.get_xscale() == "log"
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), res.t)
    plt.close(ax.figure)
    fig = af.plot.observables(res.t, res.observables)
    assert len(fig.axes) == 2
    plt.close(fig)
    with pytest.raises(ValueError, match="circle plots need tokens of dimension 2"):
        af.plot.circle(res.x[-1])
    with pytest.raises(ValueError, match=r"values: must have shape \(len\(beta\), len\(t\)\) = \(2, 3\)"):
        af.plot.phase_diagram([0, 1, 2], [1.0, 2.0], np.zeros((3, 2)))


def test_normalization_scheme_curves_show_exponential_versus_polynomial_contraction():
    ax = af.plot.normalization_schemes(n=6, beta=1.0, rho0=0.0, t_end=30.0, schemes=["post_ln", "pre_ln"], points=60)
    post, pre = ax.get_lines()
    assert post.get_label() == "post-ln" and pre.get_label() == "pre-ln"
    # [R] §6: 1 − ρ ~ e^{−2t} (Post-LN) against ~ t^{−2} (Pre-LN)
    t, gap = post.get_xdata(), post.get_ydata()
    late = (t > 4) & (gap > 1e-9)  # the asymptotic regime, well above rounding of ρ near 1
    assert late.sum() >= 5
    rate = -np.polyfit(t[late], np.log(gap[late]), 1)[0]
    assert rate == pytest.approx(2.0, rel=0.05)
    tp, gp = pre.get_xdata(), pre.get_ydata()
    slope = np.polyfit(np.log(tp[tp > 10]), np.log(gp[tp > 10]), 1)[0]
    assert slope == pytest.approx(-2.0, abs=0.3)
    plt.close(ax.figure)


def test_covariance_cone_and_phase_diagram_from_cli_outputs(tmp_path, run_cli):
    (tmp_path / "g.toml").write_text(
        '[model]\ngeometry = "euclidean"\n[init]\nkind = "gaussian"\nmean = [0.5, -0.2]\n'
        'cov = [[0.4, 0.1], [0.1, 0.3]]\n[integrate]\nt_end = 1.0\n[output]\nevery = 0.1\n')
    assert run_cli("gaussian", "g.toml", "-o", "g", "-q").returncode == 0
    (tmp_path / "s.toml").write_text(
        '[model]\nbeta = 1.0\n[init]\nn = 8\nd = 3\n[integrate]\ndt = 0.2\nt_end = 4.0\n[output]\nevery = 1.0\n'
        'observables = ["pair_fraction"]\n[sweep]\nbatch = "init.seed"\n[[sweep.axis]]\nkey = "model.beta"\n'
        'linspace = [0.5, 2.0, 3]\n[[sweep.axis]]\nkey = "init.seed"\nrange = [1, 4]\n')
    r = run_cli("sweep", "s.toml", "-o", "s", "-q")
    assert r.returncode == 0, r.stderr
    r = run_cli("plot", "g", "--dpi", 50)
    assert r.returncode == 0, r.stderr
    assert {"gaussian.png", "cone.png"} <= {p.name for p in (tmp_path / "g" / "figures").iterdir()}
    assert ink(tmp_path / "g" / "figures" / "cone.png") > 0.01
    r = run_cli("plot", "s", "--dpi", 50, "-o", "phase")
    assert r.returncode == 0, r.stderr
    assert "wrote phase/phase_pair_fraction.png" in r.stdout
    assert ink(tmp_path / "phase" / "phase_pair_fraction.png") > 0.05
    ax = af.plot.covariance_cone(af.gaussian.simulate({"geometry": "euclidean"}, [0.0, 0.0], np.eye(2), 0.4).cov,
                                 normalized=True)
    assert len(ax.lines) == 4  # the rank-one circle, the path, its start and its end
    plt.close(ax.figure)


def test_gif_has_the_requested_frames_and_a_turning_camera(runs, tmp_path):
    run = af.load(runs / "d3")
    path = af.animate.tokens(run.x, tmp_path / "m.gif", t=run.t, frames=5, dpi=40, size=160)
    im = Image.open(path)
    assert im.n_frames == 5 and im.size == (160, 160)
    assert 2000 < path.stat().st_size < 2_000_000
    frames = []
    for k in (0, 4):
        im.seek(k)
        frames.append(np.asarray(im.convert("RGB"), dtype=float))
    assert np.mean(np.abs(frames[0] - frames[1])) > 1.0  # the camera moved (and tokens clustered)
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary file left


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffmpeg not installed")
def test_mp4_has_the_requested_frames(runs, tmp_path):
    run = af.load(runs / "d2")
    path = af.animate.tokens(run.x, tmp_path / "m.mp4", t=run.t, frames=6, dpi=40, size=161)
    out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                          "stream=nb_read_frames,width,height,codec_name", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == "h264,162,162,6"
    assert path.stat().st_size > 1000


def test_attnflow_animate_and_plot_commands(runs, tmp_path, run_cli):
    shutil.copytree(runs / "d3", tmp_path / "d3")
    r = run_cli("animate", "d3", "--frames", 3, "--dpi", 30, "--size", 120, "--no-rotate")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "wrote d3/tokens.gif"
    assert Image.open(tmp_path / "d3" / "tokens.gif").n_frames == 3
    r = run_cli("plot", "d3", "--dpi", 40, "--format", "svg")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "d3" / "figures" / "tokens.svg").stat().st_size > 5000
    # errors: one line, exit 2
    (tmp_path / "empty").mkdir()
    r = run_cli("plot", "empty")
    assert r.returncode == 2 and r.stderr == "error: empty: holds no run.h5, sweep.h5 or gaussian.csv to plot\n"
    r = run_cli("animate", "empty")
    assert r.returncode == 2 and r.stderr.startswith("error: empty/run.h5: ")
    r = run_cli("animate", "d3", "--output", "movie.avi")
    assert r.returncode == 2 and "suffix: .gif or .mp4" in r.stderr
    r = run_cli("plot", "--help")
    assert r.returncode == 0 and "usage: attnflow plot" in r.stdout
