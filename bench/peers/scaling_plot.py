#!/usr/bin/env python3
"""Throughput of one SA velocity evaluation against N (d = 3 by default) for attnflow, NumPy and
PyTorch CPU (the peers of velocity_peers.py), measured in one invocation with the same threads;
writes a CSV and a log-log PNG of pairs per second. Times are minima over repeats (after a
warm-up), each quantity measured for at least --min-seconds.

    bench/peers/scaling_plot.py [--n 512 1024 ... 16384] [--d 3] [--threads 2]
        [--csv docs/performance_scaling.csv] [--png docs/performance_scaling.png]
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def min_time(fn, min_seconds, min_repeats=3):
    fn()  # warm-up
    times = []
    while sum(times) < min_seconds or len(times) < min_repeats:
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[512, 1024, 2048, 4096, 8192, 16384])
    parser.add_argument("--d", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--min-seconds", type=float, default=0.5)
    parser.add_argument("--attnflow", default=os.path.join(os.path.dirname(__file__), "../../build/bin/attnflow"))
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../..")
    parser.add_argument("--csv", default=os.path.join(root, "docs/performance_scaling.csv"))
    parser.add_argument("--png", default=os.path.join(root, "docs/performance_scaling.png"))
    args = parser.parse_args()

    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import numpy as np
    import torch
    torch.set_num_threads(args.threads)
    from velocity_peers import numpy_velocity, torch_velocity, uniform_sphere

    rows = []
    load_before = os.getloadavg()[0]
    # attnflow first, for every N, while the peers' thread pools (OpenBLAS, PyTorch) are still
    # idle: their workers keep spinning for a while after each call, which on a machine with
    # as many threads as cores stalls another process's parallel regions by milliseconds.
    t_af = {}
    for n in args.n:
        out = subprocess.run([args.attnflow, "bench", "velocity", "--n", str(n), "--d", str(args.d),
                              "--threads", str(args.threads), "--min-seconds", str(args.min_seconds)],
                             capture_output=True, text=True, check=True)
        t_af[n] = json.loads(out.stdout)["seconds_min"]
    for n in args.n:
        x = uniform_sphere(np, n, args.d)
        xt = torch.from_numpy(x)
        t_np = min_time(lambda: numpy_velocity(np, x), args.min_seconds)
        t_pt = min_time(lambda: torch_velocity(torch, xt), args.min_seconds)
        pairs = float(n) * n
        rows.append({"n": n, "d": args.d, "threads": args.threads, "attnflow_s": t_af[n], "numpy_s": t_np,
                     "torch_s": t_pt, "attnflow_pairs_per_s": pairs / t_af[n], "numpy_pairs_per_s": pairs / t_np,
                     "torch_pairs_per_s": pairs / t_pt})
        print(f"n = {n:>6}: attnflow {t_af[n]:.4g} s, numpy {t_np:.4g} s ({t_np / t_af[n]:.1f}x), "
              f"torch {t_pt:.4g} s ({t_pt / t_af[n]:.1f}x)", flush=True)
    load_after = os.getloadavg()[0]

    with open(args.csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ns = [r["n"] for r in rows]
    for key, label, marker in [("attnflow", "attnflow (streaming, fused)", "o"),
                               ("numpy", "NumPy float64 (OpenBLAS)", "s"),
                               ("torch", "PyTorch CPU float64", "^")]:
        ax.plot(ns, [r[f"{key}_pairs_per_s"] for r in rows], marker=marker, label=label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("N (tokens)")
    ax.set_ylabel("pairs per second (N² / time of one velocity evaluation)")
    ax.set_title(f"SA velocity on the sphere, d = {args.d}, {args.threads} threads, float64\n"
                 f"(load average {load_before:.1f} → {load_after:.1f} on {os.cpu_count()} cores)", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.png, dpi=120)
    print(f"wrote {args.csv} and {args.png}; load average {load_before:.2f} -> {load_after:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
