"""The canonical S^2 clustering movie ([R] §4, the authors' sphere.py movies): 64 tokens uniform on
S^2 under SA with Q = K = V = I, beta = 1, t in [0, 15] (experiments/demo_sphere_clustering.toml,
the `make demo` run), with snapshots as a figure and the movie as a GIF."""
import math

import numpy as np


def run(ctx):
    config = ctx.experiment("demo_sphere_clustering.toml")
    out = ctx.out / "run"
    ctx.cli("run", config, "-o", out, "-q", "--threads", ctx.threads)
    import h5py
    with h5py.File(out / "run.h5", "r") as f:
        t = f["t"][()]
        x = f["x"][()]
        energy = f["energy"][()]
        rate = f["energy_rate"][()]
        clusters = f["clusters"][()]
        cosine = f["mean_cosine"][()]
    ctx.value("final_clusters", clusters[-1])
    ctx.value("final_energy_over_one_cluster", energy[-1] / (math.e / 2))
    ctx.value("min_energy_rate", float(np.min(rate)))
    ctx.value("max_energy_decrease", float(-np.min(np.diff(energy))))
    ctx.csv("observables.csv", ["t", "energy", "energy_rate", "clusters", "mean_cosine"],
            zip(t, energy, rate, clusters, cosine))

    movie = "tokens.gif"
    frames = ["--frames", 30, "--size", 320] if ctx.quick else ["--frames", 76, "--size", 400]
    ctx.cli("animate", out, "-o", ctx.out / movie, *frames)
    ctx.figures.append({"file": movie, "caption": "The movie: 64 tokens on S² clustering under SA "
                                                  "(β = 1, t from 0 to 15, rotating camera)."})

    fig = ctx.subplots(figsize=(12, 3.4))[0]
    fig.clf()
    shots = [0.0, 2.0, 5.0, 15.0]
    u, v = np.mgrid[0:2 * np.pi:40j, 0:np.pi:20j]
    for k, ts in enumerate(shots):
        ax = fig.add_subplot(1, len(shots), k + 1, projection="3d")
        i = int(np.argmin(np.abs(t - ts)))
        ax.plot_wireframe(np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v), color="0.85",
                          lw=0.3)
        ax.scatter(x[i, :, 0], x[i, :, 1], x[i, :, 2], s=10, color="crimson", depthshade=False)
        ax.set_title(f"t = {t[i]:g}, {int(clusters[i])} cluster(s)", fontsize=9)
        ax.set_axis_off()
        ax.set_box_aspect((1, 1, 1))
    ctx.figure(fig, "snapshots.png",
               "64 tokens uniform on S² under SA (Q = K = V = I, β = 1): snapshots of the run whose "
               "movie is tokens.gif (the canonical clustering movie of [R]'s authors, sphere.py).")
