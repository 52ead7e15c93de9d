"""Movies of the token dynamics, as the papers' movies show them: tokens on the circle, or on S² seen
by a camera that turns around the sphere ([R]'s clustering movies, [M]'s multi-head movies). GIF via
Pillow (python3-pil), MP4 via ffmpeg (Debian's ffmpeg package).

``python3 -m attnflow animate OUTDIR`` (or ``attnflow animate OUTDIR``) makes the movie of a run.
"""
from __future__ import annotations

import argparse
import pathlib
import shutil
import sys

import numpy as np

__all__ = ["tokens", "frame_indices", "animate_run", "main"]


def frame_indices(count: int, frames: int | None) -> np.ndarray:
    """Indices of ``frames`` movie frames evenly spread over ``count`` stored frames (first and last
    included; all of them when ``frames`` is None or larger)."""
    if count < 1:
        raise ValueError("x: the trajectory has no frame")
    if frames is None or frames >= count:
        return np.arange(count)
    if frames < 1:
        raise ValueError(f"frames: must be at least 1, got {frames}")
    if frames == 1:
        return np.array([count - 1])
    return np.unique(np.round(np.linspace(0, count - 1, frames)).astype(int))


def tokens(x, path, t=None, fps=20, frames=None, rotate=True, trail=None, dpi=80, size=480, labels=None,
           elev=20.0, azim=-60.0, title=None) -> pathlib.Path:
    """Writes a movie of a token trajectory ``x`` (T, N, d) with d = 2 (circle) or 3 (S²) to ``path``
    (``.gif`` with Pillow, ``.mp4`` with ffmpeg / libx264), one movie frame per selected stored frame:
    the clustering movies of [R] and [M] (tokens on S² under self-attention, a turning camera).

    Parameters
    ----------
    t : (T,) times shown in the title (default frame numbers).
    fps : frames per second.
    frames : number of movie frames, evenly spread over the trajectory (default: every frame).
    rotate : S² only: the camera turns once around the vertical axis over the movie.
    trail : number of past stored frames drawn as a tail behind each token (default T/4; 0: none).
    dpi, size : resolution; the movie is ``size``×``size`` pixels (rounded to even, as MP4 needs).
    labels : cluster label per token for the colours (default: by index).

    Returns the path. The file is written under a temporary name and renamed when complete.
    """
    import matplotlib
    import matplotlib.pyplot as plt
    from matplotlib import animation

    from . import plot

    x = np.asarray(x, dtype=float)
    if x.ndim != 3 or x.shape[2] not in (2, 3):
        raise ValueError(f"x: movies need a (T, N, 2) or (T, N, 3) trajectory, got shape {x.shape}")
    path = pathlib.Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise ValueError(f"path: the movie format is taken from the suffix: .gif or .mp4, got '{path.suffix}'")
    if fps <= 0:
        raise ValueError(f"fps: must be > 0, got {fps}")
    count, d = x.shape[0], x.shape[2]
    times = np.arange(count, dtype=float) if t is None else np.asarray(t, dtype=float)
    index = frame_indices(count, frames)
    trail = max(1, count // 4) if trail is None else int(trail)
    size = int(size) + int(size) % 2
    if suffix == ".mp4":
        if not shutil.which("ffmpeg"):
            raise RuntimeError("ffmpeg not found: install it (Debian: apt-get install ffmpeg) or write a .gif")
        writer = animation.FFMpegWriter(fps=fps, codec="libx264", extra_args=["-pix_fmt", "yuv420p"])
    else:
        writer = animation.PillowWriter(fps=fps)

    with matplotlib.rc_context({"figure.dpi": dpi}):
        fig = plt.figure(figsize=(size / dpi, size / dpi), dpi=dpi)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    try:
        with writer.saving(fig, str(tmp), dpi=dpi):
            for movie_frame, k in enumerate(index):
                fig.clear()
                ax = fig.add_axes([0.0, 0.0, 1.0, 0.92], projection="3d" if d == 3 else None)
                tail = x[max(0, k - trail):k + 1] if trail > 0 else None
                heading = f"t = {times[k]:.3g}" if title is None else f"{title}   t = {times[k]:.3g}"
                if d == 3:
                    turn = 360.0 * movie_frame / max(len(index), 1) if rotate else 0.0
                    plot.sphere(x[k], ax=ax, trajectory=tail, labels=labels, elev=elev, azim=azim + turn)
                else:
                    plot.circle(x[k], ax=ax, labels=labels)
                    if tail is not None and len(tail) > 1:
                        colors = plot._colors(x.shape[1], labels)
                        for i in range(x.shape[1]):
                            ang = np.unwrap(np.arctan2(tail[:, i, 1], tail[:, i, 0]))
                            ax.plot(np.cos(ang), np.sin(ang), color=colors[i], lw=2.0, alpha=0.6)
                fig.suptitle(heading, y=0.97, fontsize=11)
                writer.grab_frame()
        tmp.replace(path)
    finally:
        plt.close(fig)
        if tmp.exists():
            tmp.unlink()
    return path


def animate_run(outdir, path=None, fmt="gif", **options) -> pathlib.Path:
    """The movie of ``OUTDIR/run.h5`` (tokens coloured by their final cluster at δ = 10⁻³) written to
    ``path`` (default ``OUTDIR/tokens.gif`` or ``.mp4``); ``options`` as :func:`tokens`."""
    from .api import clusters, load
    from .model import input_error
    run = load(outdir)
    if run.x is None:
        raise input_error(run.path, "has no dataset /x (written with output.trajectory = false?): nothing to animate")
    if run.x.shape[2] not in (2, 3):
        raise input_error(run.path, f"tokens of dimension d = {run.x.shape[2]}: movies are drawn for d = 2 "
                                    "(circle) and d = 3 (sphere)")
    out = pathlib.Path(path) if path else pathlib.Path(run.path).with_name(f"tokens.{fmt}")
    options.setdefault("labels", clusters(run.x[-1], 1e-3).labels)
    return tokens(run.x, out, t=run.t, **options)


def main(argv=None) -> int:
    """``attnflow animate OUTDIR [--format gif|mp4] [--fps F] [--frames K] [--no-rotate] [--dpi N]
    [--size PX] [--trail K] [--output FILE]``."""
    import matplotlib
    matplotlib.use("Agg")
    parser = argparse.ArgumentParser(prog="attnflow animate",
                                     description="Movie of the tokens of OUTDIR/run.h5 (d = 2 or 3).")
    parser.add_argument("outdir", help="output directory of attnflow run (or a run.h5)")
    parser.add_argument("--output", "-o", help="movie file (default OUTDIR/tokens.gif or .mp4)")
    parser.add_argument("--format", default="gif", choices=["gif", "mp4"])
    parser.add_argument("--fps", type=float, default=20.0)
    parser.add_argument("--frames", type=int, default=None, help="number of movie frames (default: all)")
    parser.add_argument("--no-rotate", action="store_true", help="S²: keep the camera still")
    parser.add_argument("--dpi", type=int, default=80)
    parser.add_argument("--size", type=int, default=480, help="movie width = height in pixels")
    parser.add_argument("--trail", type=int, default=None, help="stored frames in each token's tail")
    args = parser.parse_args(argv)
    from ._attnflow import InputError
    output = args.output
    if output and pathlib.Path(output).suffix.lower() not in (".gif", ".mp4"):
        print("error: --output: the movie format is taken from the suffix: .gif or .mp4", file=sys.stderr)
        return 2
    try:
        path = animate_run(args.outdir, output, fmt=args.format, fps=args.fps, frames=args.frames,
                           rotate=not args.no_rotate, dpi=args.dpi, size=args.size, trail=args.trail)
    except (InputError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
