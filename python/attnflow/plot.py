"""The papers' pictures with matplotlib: tokens on the circle and on S² with their trajectories
([R], [B], [M]), energy and cluster count against (log) time ([R]; SPEC §4 metastability), (t, β)
phase diagrams ([R] "phase.diag"), the cone of 2×2 covariances of [C]'s Gaussian solutions, and the
ρ(t) curves of the normalisation schemes ([R] §6).

Every function draws into ``ax`` (a new figure when None) and returns the axes; :func:`run_figures`
writes the standard figures of an output directory, and ``python3 -m attnflow plot OUTDIR`` (or
``attnflow plot OUTDIR``) is its command line.
"""
from __future__ import annotations

import argparse
import csv
import json
import pathlib
import sys

import numpy as np

__all__ = ["tokens", "circle", "angles", "sphere", "gram", "observable", "observables", "phase_diagram",
           "covariance_cone", "normalization_schemes", "run_figures", "main"]


def _pyplot():
    import matplotlib.pyplot as plt
    return plt


def _new_axes(ax, projection=None, figsize=(5.0, 5.0)):
    if ax is not None:
        return ax
    fig = _pyplot().figure(figsize=figsize)
    return fig.add_subplot(111, projection=projection)


def _colors(n, labels=None):
    """One color per token: by cluster label when given (tab10 / tab20), else along a hue circle."""
    import matplotlib
    if labels is not None:
        cmap = matplotlib.colormaps["tab20" if np.max(labels, initial=0) >= 10 else "tab10"]
        return cmap(np.asarray(labels) % cmap.N)
    return matplotlib.colormaps["hsv"](np.linspace(0.0, 0.9, max(n, 1)))[:n]


def _frames(x):
    x = np.asarray(x, dtype=float)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise ValueError(f"x: must be an (N, d) frame or a (T, N, d) trajectory, got shape {x.shape}")
    return x


def circle(x, ax=None, trajectory=None, labels=None, size=30.0, title=None):
    """Tokens on the circle S¹ (d = 2), [R]'s circle (Kuramoto) picture. ``x`` is (N, 2); with a
    ``trajectory`` (T, N, 2), each token's path is drawn with time as the radius (from 0.35 at t = 0
    to 1 at the last frame), so merging curves show clusters forming; final tokens sit on the circle.
    ``labels`` colours tokens by cluster."""
    ax = _new_axes(ax)
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"x: circle plots need tokens of dimension 2, got shape {x.shape}")
    colors = _colors(len(x), labels)
    s = np.linspace(0, 2 * np.pi, 400)
    ax.plot(np.cos(s), np.sin(s), color="0.75", lw=1.0, zorder=0)
    if trajectory is not None:
        tr = _frames(trajectory)
        theta = np.arctan2(tr[..., 1], tr[..., 0])
        radius = 0.35 + 0.65 * np.linspace(0.0, 1.0, len(tr))
        for i in range(tr.shape[1]):
            ang = np.unwrap(theta[:, i])
            ax.plot(radius * np.cos(ang), radius * np.sin(ang), color=colors[i], lw=0.8, alpha=0.7)
    u = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-300)
    ax.scatter(u[:, 0], u[:, 1], s=size, color=colors, edgecolors="k", linewidths=0.4, zorder=3)
    ax.set_aspect("equal")
    ax.set_xlim(-1.15, 1.15)
    ax.set_ylim(-1.15, 1.15)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def angles(t, x, ax=None, labels=None, log_time=False):
    """Angles θ_i(t) ∈ (−π, π] of tokens on S¹ against time (trajectory (T, N, 2)): the braid of
    [R]'s circle dynamics (Kuramoto form θ̇_i = −(1/n) Σ_j e^{β cos(θ_i−θ_j)} sin(θ_i−θ_j) for USA)."""
    ax = _new_axes(ax, figsize=(6.0, 4.0))
    tr = _frames(x)
    theta = np.arctan2(tr[..., 1], tr[..., 0])
    colors = _colors(tr.shape[1], labels)
    t = np.asarray(t, dtype=float)
    for i in range(tr.shape[1]):
        ax.plot(t, theta[:, i], ".", ms=1.5, color=colors[i])
    ax.set_xlabel("t")
    ax.set_ylabel(r"$\theta_i(t)$")
    ax.set_ylim(-np.pi, np.pi)
    if log_time:
        _log_time(ax, t)
    return ax


def sphere(x, ax=None, trajectory=None, labels=None, elev=20.0, azim=-60.0, size=25.0, title=None, wire=True):
    """Tokens on S² (d = 3) in a 3-D view, with their paths when a ``trajectory`` (T, N, 3) is given:
    the pictures of [R], [B] and [M] (clusters on the sphere). Returns the 3-D axes."""
    ax = _new_axes(ax, projection="3d")
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[1] != 3:
        raise ValueError(f"x: sphere plots need tokens of dimension 3, got shape {x.shape}")
    colors = _colors(len(x), labels)
    if wire:
        u, v = np.mgrid[0:2 * np.pi:25j, 0:np.pi:13j]
        ax.plot_wireframe(np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v), color="0.85", lw=0.4)
    if trajectory is not None:
        tr = _frames(trajectory)
        for i in range(tr.shape[1]):
            ax.plot(tr[:, i, 0], tr[:, i, 1], tr[:, i, 2], color=colors[i], lw=0.8, alpha=0.8)
    ax.scatter(x[:, 0], x[:, 1], x[:, 2], s=size, color=colors, edgecolors="k", linewidths=0.3, depthshade=False)
    ax.set_xlim(-1, 1)
    ax.set_ylim(-1, 1)
    ax.set_zlim(-1, 1)
    ax.set_box_aspect((1, 1, 1), zoom=1.3)
    ax.view_init(elev=elev, azim=azim)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def tokens(x, ax=None, trajectory=None, **kwargs):
    """Tokens in their natural picture: :func:`circle` for d = 2, :func:`sphere` for d = 3,
    :func:`gram` otherwise."""
    d = np.asarray(x).shape[-1]
    if d == 2:
        return circle(x, ax=ax, trajectory=trajectory, **kwargs)
    if d == 3:
        return sphere(x, ax=ax, trajectory=trajectory, **kwargs)
    return gram(x, ax=ax, title=kwargs.get("title"))


def gram(x, ax=None, title=None, order=None):
    """The Gram matrix of directions ⟨x̂_i, x̂_j⟩ as an image (any d): clusters are bright blocks
    ([R]; SPEC §4; [C] rank collapse). ``order`` permutes tokens (default: by cluster at δ = 10⁻³, so
    blocks are contiguous)."""
    ax = _new_axes(ax)
    x = np.asarray(x, dtype=float)
    u = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-300)
    if order is None:
        from .api import clusters
        order = np.argsort(clusters(u, 1e-3).labels, kind="stable")
    g = u[order] @ u[order].T
    im = ax.imshow(g, vmin=-1, vmax=1, cmap="RdBu_r", interpolation="nearest")
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label=r"$\langle x_i, x_j\rangle$")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax


def _log_time(ax, t):
    t = np.asarray(t, dtype=float)
    positive = t[t > 0]
    ax.set_xscale("log")
    if positive.size:
        ax.set_xlim(positive.min(), positive.max())


_LABELS = {
    "energy": r"$E_\beta = \frac{1}{2\beta}\sum_{ij} w_i w_j e^{\beta\langle x_i,x_j\rangle}$",
    "energy_b": r"$\frac12\sum_{ij} w_i w_j e^{\langle x_i, D x_j\rangle}$",
    "normalized_energy": r"$\sum_{ij} w_i w_j e^{\beta(\langle x_i,x_j\rangle-1)}$",
    "clusters": "number of clusters",
    "pair_fraction": r"fraction of pairs with $\langle x_i,x_j\rangle > 1-\delta$",
    "mean_cosine": r"mean $\langle x_i,x_j\rangle$",
    "energy_rate": r"$dE/dt$",
}


def observable(t, values, ax=None, name="energy", log_time=False, log_y=None, **style):
    """One observable against time ([R]; SPEC §4: the energy and the cluster count form a "staircase" of
    metastable plateaus, best seen with ``log_time=True``). Cluster counts are drawn as steps."""
    ax = _new_axes(ax, figsize=(6.0, 3.5))
    t = np.asarray(t, dtype=float)
    values = np.asarray(values, dtype=float)
    if name == "clusters":
        ax.step(t, values, where="post", **style)
        ax.set_ylim(bottom=0)
    else:
        ax.plot(t, values, **style)
    if log_y or (log_y is None and name == "energy" and np.all(values > 0) and values.max() > 100 * values.min()):
        ax.set_yscale("log")
    ax.set_xlabel("t (log scale)" if log_time else "t")
    ax.set_ylabel(_LABELS.get(name, name))
    if log_time:
        _log_time(ax, t)
    ax.grid(alpha=0.3)
    return ax


def observables(t, values: dict, log_time=False, names=None, figsize=None):
    """A column of panels, one per observable (``values``: name → T values, e.g. ``Result.observables``
    or ``Run.observables``). Returns the figure."""
    names = [n for n in (names or values) if n in values]
    if not names:
        raise ValueError("observables: nothing to plot (no observable recorded)")
    plt = _pyplot()
    fig, axes = plt.subplots(len(names), 1, sharex=True, squeeze=False,
                             figsize=figsize or (6.5, 2.3 * len(names) + 0.6))
    for ax, name in zip(axes[:, 0], names):
        observable(t, values[name], ax=ax, name=name, log_time=log_time)
        if ax is not axes[-1, 0]:
            ax.set_xlabel("")
    fig.tight_layout()
    return fig


def phase_diagram(t, beta, values, ax=None, log_time=False, label=None, vmin=0.0, vmax=1.0, cmap="viridis"):
    """A (t, β) phase diagram ([R] Fig. "phase.diag.Id": n = 32, the fraction of pairs with
    ⟨x_i, x_j⟩ > 1 − δ, median over a batch of systems): ``values`` is (len(beta), len(t)); time on
    the horizontal axis (log scale with ``log_time``), β vertical."""
    ax = _new_axes(ax, figsize=(6.5, 4.5))
    t = np.asarray(t, dtype=float)
    beta = np.asarray(beta, dtype=float)
    values = np.asarray(values, dtype=float)
    if values.shape != (beta.size, t.size):
        raise ValueError(f"values: must have shape (len(beta), len(t)) = ({beta.size}, {t.size}), "
                         f"got {values.shape}")
    keep = t > 0 if log_time else np.ones(t.size, bool)
    mesh = ax.pcolormesh(t[keep], beta, values[:, keep], shading="nearest", vmin=vmin, vmax=vmax, cmap=cmap)
    ax.figure.colorbar(mesh, ax=ax, label=label or "fraction of pairs with " + r"$\langle x_i,x_j\rangle>1-\delta$")
    ax.set_xlabel("t")
    ax.set_ylabel(r"$\beta$")
    if log_time:
        ax.set_xscale("log")
    return ax


def _cone_coordinates(cov):
    """(u, v, w) = ((a − c)/2, b, (a + c)/2) of Σ = [[a, b], [b, c]]: Σ ⪰ 0 iff w ≥ √(u² + v²)."""
    cov = np.asarray(cov, dtype=float)
    a, b, c = cov[..., 0, 0], 0.5 * (cov[..., 0, 1] + cov[..., 1, 0]), cov[..., 1, 1]
    return (a - c) / 2, b, (a + c) / 2


def covariance_cone(covs, ax=None, normalized=False, labels=None, elev=18.0, azim=-50.0):
    """Trajectories of 2×2 covariances Σ(t) of [C]'s Gaussian solutions in the cone of positive
    semi-definite matrices: Σ = [[a, b], [b, c]] ↦ ((a − c)/2, b, (a + c)/2), the cone
    w ≥ √(u² + v²) whose boundary holds the rank-one (degenerate, "clustered") covariances.

    ``covs``: one trajectory (T, 2, 2) or several (K, T, 2, 2) (or a list of trajectories of
    different lengths). With ``normalized=True`` each Σ is divided by tr Σ and drawn in the disk
    u² + v² ≤ ¼ (2-D axes): blow-up or collapse shows as a path reaching the circle."""
    if isinstance(covs, np.ndarray) and covs.ndim == 3:
        covs = [covs]
    paths = [np.asarray(c, dtype=float) for c in covs]
    for k, c in enumerate(paths):
        if c.ndim != 3 or c.shape[1:] != (2, 2):
            raise ValueError(f"covs[{k}]: must be a (T, 2, 2) trajectory of 2x2 covariances, got shape {c.shape}")
    colors = _colors(len(paths))
    s = np.linspace(0, 2 * np.pi, 200)
    if normalized:
        ax = _new_axes(ax)
        ax.plot(0.5 * np.cos(s), 0.5 * np.sin(s), color="0.5", lw=1.0)
        for k, c in enumerate(paths):
            u, v, w = _cone_coordinates(c)
            u, v = u / (2 * w), v / (2 * w)
            ax.plot(u, v, color=colors[k], lw=1.2, label=None if labels is None else labels[k])
            ax.plot(u[:1], v[:1], "o", color=colors[k], ms=4)
            ax.plot(u[-1:], v[-1:], "s", color=colors[k], ms=4)
        ax.set_aspect("equal")
        ax.set_xlabel(r"$(a-c)/(2\,\mathrm{tr}\,\Sigma)$")
        ax.set_ylabel(r"$b/\mathrm{tr}\,\Sigma$")
        ax.set_title(r"$\Sigma/\mathrm{tr}\,\Sigma$ (circle: rank one)")
    else:
        ax = _new_axes(ax, projection="3d")
        top = max(float(np.max(_cone_coordinates(c)[2])) for c in paths)
        r, th = np.mgrid[0:top:12j, 0:2 * np.pi:40j]
        ax.plot_wireframe(r * np.cos(th), r * np.sin(th), r, color="0.8", lw=0.4)
        for k, c in enumerate(paths):
            u, v, w = _cone_coordinates(c)
            ax.plot(u, v, w, color=colors[k], lw=1.5, label=None if labels is None else labels[k])
            ax.scatter(u[:1], v[:1], w[:1], color=colors[k], s=12)
        ax.set_xlabel("(a-c)/2")
        ax.set_ylabel("b")
        ax.set_zlabel("(a+c)/2")
        ax.view_init(elev=elev, azim=azim)
        ax.set_title(r"$\Sigma(t)$ in the cone of PSD $2\times2$ matrices")
    if labels is not None:
        ax.legend(fontsize=8)
    return ax


def normalization_schemes(n=8, beta=1.0, rho0=0.0, t_end=100.0, schemes=None, kernel="softmax", ax=None,
                          points=400, **options):
    """1 − ρ(t) of the equiangular model under each normalisation scheme ([R] §6, SPEC §1 table;
    Karagodin–Ge–Polyanskiy–Rigollet): Post-LN contracts exponentially (1 − ρ ~ e^{−2t} for SA),
    Pre-, Mix- and Peri-LN polynomially (~ t^{−2}). Log–log axes; returns the axes."""
    from . import equiangular
    ax = _new_axes(ax, figsize=(6.0, 4.5))
    schemes = schemes or equiangular.SCHEMES
    t = np.concatenate([[0.0], np.geomspace(1e-2, t_end, points)])
    for scheme in schemes:
        res = equiangular.solve(n, beta, rho0, times=t, kernel=kernel, normalization=scheme, **options)
        gap = 1.0 - res.rho
        keep = (res.t > 0) & (gap > 0)
        ax.loglog(res.t[keep], gap[keep], label=scheme.replace("_", "-"))
    ax.set_xlabel("t")
    ax.set_ylabel(r"$1-\rho(t)$")
    ax.set_title(f"equiangular {kernel}, n = {n}, " + r"$\beta$" + f" = {beta:g}, " + r"$\rho_0$" + f" = {rho0:g}")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return ax


# ---------------------------------------------------------------------------------------------
# The standard figures of an output directory

def _save(fig, path, dpi):
    fig.savefig(path, dpi=dpi)
    _pyplot().close(fig)
    return path


def _run_figures(run, out, fmt, dpi, log_time):
    plt = _pyplot()
    written = []
    from .api import clusters
    if run.x is not None:
        last = run.x[-1]
        d = last.shape[1]
        labels = clusters(last, 1e-3).labels
        title = f"t = {run.t[-1]:g}, {int(labels.max()) + 1} cluster(s)"
        if d in (2, 3):
            fig = plt.figure(figsize=(5.5, 5.5))
            ax = fig.add_subplot(111, projection="3d" if d == 3 else None)
            tokens(last, ax=ax, trajectory=run.x, labels=labels, title=title)
            written.append(_save(fig, out / f"tokens.{fmt}", dpi))
        if d == 2:
            fig, ax = plt.subplots(figsize=(6.5, 4.0))
            angles(run.t, run.x, ax=ax, labels=labels, log_time=log_time)
            fig.tight_layout()
            written.append(_save(fig, out / f"angles.{fmt}", dpi))
        fig, axes = plt.subplots(1, 2, figsize=(10.0, 4.5))
        gram(run.x[0], ax=axes[0], title=f"t = {run.t[0]:g}")
        gram(last, ax=axes[1], title=f"t = {run.t[-1]:g}")
        fig.tight_layout()
        written.append(_save(fig, out / f"gram.{fmt}", dpi))
    if run.observables:
        fig = observables(run.t, run.observables, log_time=log_time)
        written.append(_save(fig, out / f"observables.{fmt}", dpi))
    return written


def _sweep_figures(path, out, fmt, dpi, log_time):
    import h5py
    plt = _pyplot()
    written = []
    with h5py.File(path, "r") as f:
        axes = json.loads(f.attrs["axes"])
        batch = f.attrs.get("batch", "")
        names = json.loads(f.attrs["observables"])
        stats = json.loads(f.attrs.get("statistics", "[]"))
        t = f["t"][:]
        free = [a for a in axes if a["key"] != batch]
        numeric = [k for k, a in enumerate(free) if a["values"] and not isinstance(a["values"][0], str)]
        if not numeric:
            return written
        ya = next((k for k in numeric if free[k]["key"] == "model.beta"), numeric[0])
        stat = next((s for s in ("median", "mean") if s in stats), None)
        for name in names:
            key = f"{name}.{stat}" if stat else name
            if key not in f:
                continue
            data = f[key][:]
            if not stat and batch:  # systems kept, no statistics: average over the batch axis
                data = np.nanmean(data, axis=[a["key"] for a in axes].index(batch))
            # Keep the first value of every free axis but the chosen one (one diagram per file).
            index = tuple(slice(None) if k == ya else 0 for k in range(len(free))) + (slice(None),)
            grid = data[index]
            finite = grid[np.isfinite(grid)]
            bounded = name in ("pair_fraction", "normalized_energy", "mean_cosine")
            vmin, vmax = (0.0, 1.0) if bounded else (finite.min() if finite.size else 0, finite.max() if finite.size else 1)
            fig, ax = plt.subplots(figsize=(6.5, 4.5))
            phase_diagram(t, np.asarray(free[ya]["values"], float), grid, ax=ax, log_time=log_time, vmin=vmin,
                          vmax=vmax, label=f"{name} ({stat})" if stat else name)
            ax.set_ylabel(free[ya]["key"].replace("model.beta", r"$\beta$"))
            fig.tight_layout()
            written.append(_save(fig, out / f"phase_{name}.{fmt}", dpi))
    return written


def _gaussian_figures(path, out, fmt, dpi, log_time):
    plt = _pyplot()
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return []
    t = np.array([float(r["t"]) for r in rows])
    d = sum(1 for k in rows[0] if k.startswith("mean_"))
    cov = np.zeros((len(rows), d, d))
    for k, r in enumerate(rows):
        for i in range(d):
            for j in range(i, d):
                cov[k, i, j] = cov[k, j, i] = float(r[f"cov_{i}_{j}"])
    eig = np.array([[float(r[f"eig_{i}"]) for i in range(d)] for r in rows])
    written = []
    fig, axes = plt.subplots(2, 1, sharex=True, figsize=(6.5, 6.0))
    axes[0].semilogy(t, np.trace(cov, axis1=1, axis2=2))
    axes[0].set_ylabel(r"tr $\Sigma(t)$")
    for i in range(d):
        axes[1].plot(t, eig[:, i], label=fr"$\lambda_{i + 1}$")
    axes[1].set_ylabel(r"eigenvalues of $\Sigma/\mathrm{tr}\,\Sigma$")
    axes[1].set_xlabel("t")
    axes[1].legend(fontsize=8)
    if log_time:
        _log_time(axes[1], t)
    fig.tight_layout()
    written.append(_save(fig, out / f"gaussian.{fmt}", dpi))
    if d == 2:
        fig = plt.figure(figsize=(10.0, 4.8))
        covariance_cone(cov, ax=fig.add_subplot(121, projection="3d"))
        covariance_cone(cov, ax=fig.add_subplot(122), normalized=True)
        fig.tight_layout()
        written.append(_save(fig, out / f"cone.{fmt}", dpi))
    return written


def run_figures(outdir, figures=None, fmt="png", dpi=120, log_time=False) -> list[pathlib.Path]:
    """Writes the standard figures of an output directory into ``figures`` (default
    ``OUTDIR/figures``) and returns their paths:

    * ``run.h5`` (``attnflow run``): ``tokens`` (d = 2: circle, d = 3: S², with trajectories),
      ``angles`` (d = 2), ``gram`` (first and last frame), ``observables`` (every recorded
      observable against time);
    * ``sweep.h5`` (``attnflow sweep``): ``phase_<observable>`` (t, β) diagrams;
    * ``gaussian.csv`` (``attnflow gaussian``): ``gaussian`` (tr Σ and the spectrum of Σ/tr Σ) and,
      for d = 2, ``cone`` (the covariance cone of [C]).

    ``log_time`` puts time on a log scale ([R]'s metastability plots)."""
    from .model import input_error
    outdir = pathlib.Path(outdir)
    if not outdir.is_dir():
        raise input_error(str(outdir), "is not a directory (give the OUTDIR of attnflow run / sweep / gaussian)")
    out = pathlib.Path(figures) if figures is not None else outdir / "figures"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if (outdir / "run.h5").exists():
        from .api import load
        written += _run_figures(load(outdir / "run.h5"), out, fmt, dpi, log_time)
    if (outdir / "sweep.h5").exists():
        written += _sweep_figures(outdir / "sweep.h5", out, fmt, dpi, log_time)
    if (outdir / "gaussian.csv").exists():
        written += _gaussian_figures(outdir / "gaussian.csv", out, fmt, dpi, log_time)
    if not written and not any((outdir / f).exists() for f in ("run.h5", "sweep.h5", "gaussian.csv")):
        raise input_error(str(outdir), "holds no run.h5, sweep.h5 or gaussian.csv to plot")
    return written


def main(argv=None) -> int:
    """``attnflow plot OUTDIR [--log-time] [--format png|pdf|svg] [--dpi N] [--output DIR]``."""
    import matplotlib
    matplotlib.use("Agg")
    parser = argparse.ArgumentParser(prog="attnflow plot", description=run_figures.__doc__.split("\n\n")[0])
    parser.add_argument("outdir", help="output directory of attnflow run / sweep / gaussian")
    parser.add_argument("--output", "-o", help="where to write the figures (default OUTDIR/figures)")
    parser.add_argument("--format", default="png", choices=["png", "pdf", "svg"])
    parser.add_argument("--dpi", type=int, default=120)
    parser.add_argument("--log-time", action="store_true", help="time on a log scale")
    args = parser.parse_args(argv)
    from ._attnflow import InputError
    try:
        written = run_figures(args.outdir, args.output, args.format, args.dpi, args.log_time)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
