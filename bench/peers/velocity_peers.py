#!/usr/bin/env python3
"""Side-by-side throughput of one SA velocity evaluation on the sphere (Q = K = V = I, beta = 1,
float64): attnflow against the dense code researchers run today, in one invocation on one machine.

Peers (what the papers' reference code does): scores = X Xᵀ, np.exp after subtracting the row max,
row-normalise, multiply by X, project onto the tangent space. PyTorch CPU float64 does the same
with torch.softmax. Each is timed as the median of repeated evaluations after a warm-up; all use
the same number of threads. Prints a table and one JSON line with the ratios.

    bench/peers/velocity_peers.py [--n 16384] [--d 3 64] [--threads 2] [--attnflow build/bin/attnflow]
"""
import argparse
import json
import os
import subprocess
import sys
import time


def median_time(fn, min_seconds=1.0, min_repeats=3):
    fn()  # warm-up: allocations, page faults, thread pools
    times = []
    while sum(times) < min_seconds or len(times) < min_repeats:
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def uniform_sphere(np, n, d, seed=1):
    x = np.random.default_rng(seed).normal(size=(n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def numpy_velocity(np, x, beta=1.0):
    s = beta * (x @ x.T)
    s -= s.max(axis=1, keepdims=True)
    np.exp(s, out=s)
    s /= s.sum(axis=1, keepdims=True)
    v = s @ x
    return v - np.sum(v * x, axis=1, keepdims=True) * x


def torch_velocity(torch, x, beta=1.0):
    a = torch.softmax(beta * (x @ x.T), dim=1)
    v = a @ x
    return v - (v * x).sum(dim=1, keepdim=True) * x


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=16384)
    parser.add_argument("--d", type=int, nargs="+", default=[3, 64])
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--attnflow", default=os.path.join(os.path.dirname(__file__), "../../build/bin/attnflow"))
    parser.add_argument("--min-seconds", type=float, default=1.0)
    args = parser.parse_args()

    # Thread counts must be fixed before NumPy's BLAS and PyTorch start their pools.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import numpy as np
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None

    rows = []
    # attnflow first, for every d, while the peers' thread pools are idle: OpenBLAS and PyTorch
    # workers keep spinning after each call, which on a machine with as many threads as cores
    # stalls another process's parallel regions (scaling_plot.py measured 8 ms per region).
    attnflow_s = {}
    for d in args.d:
        out = subprocess.run([args.attnflow, "bench", "velocity", "--n", str(args.n), "--d", str(d),
                              "--threads", str(args.threads), "--min-seconds", str(args.min_seconds)],
                             capture_output=True, text=True, check=True)
        attnflow_s[d] = json.loads(out.stdout)["seconds"]
    for d in args.d:
        x = uniform_sphere(np, args.n, d)
        pairs = float(args.n) ** 2
        result = {"n": args.n, "d": d, "threads": args.threads, "load_average": os.getloadavg()[0]}
        result["attnflow_s"] = attnflow_s[d]
        result["numpy_s"] = median_time(lambda: numpy_velocity(np, x), args.min_seconds)
        if torch is not None:
            xt = torch.from_numpy(x)
            result["torch_s"] = median_time(lambda: torch_velocity(torch, xt), args.min_seconds)
            # The peers compute the same field: check it, so the comparison is of equal work.
            diff = np.abs(torch_velocity(torch, xt).numpy() - numpy_velocity(np, x)).max()
            result["torch_vs_numpy_max_abs_diff"] = float(diff)
        result["pairs_per_second"] = {k[:-2]: pairs / v for k, v in result.items() if k.endswith("_s")}
        result["speedup_vs_numpy"] = result["numpy_s"] / result["attnflow_s"]
        if "torch_s" in result:
            result["speedup_vs_torch"] = result["torch_s"] / result["attnflow_s"]
        rows.append(result)

    print(f"{'n':>7} {'d':>4} {'thr':>4} {'attnflow s':>11} {'numpy s':>9} {'torch s':>9} {'x numpy':>8} {'x torch':>8}")
    for r in rows:
        print(f"{r['n']:>7} {r['d']:>4} {r['threads']:>4} {r['attnflow_s']:>11.4f} {r['numpy_s']:>9.4f} "
              f"{r.get('torch_s', float('nan')):>9.4f} {r['speedup_vs_numpy']:>8.1f} "
              f"{r.get('speedup_vs_torch', float('nan')):>8.1f}")
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
