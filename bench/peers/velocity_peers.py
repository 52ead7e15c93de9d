#!/usr/bin/env python3
"""Side-by-side throughput of one SA velocity evaluation on the sphere (Q = K = V = I, beta = 1,
float64): attnflow against the dense code researchers run today, in one invocation on one machine.

Peers (what the papers' reference code does): scores = X Xᵀ, np.exp after subtracting the row max,
row-normalise, multiply by X, project onto the tangent space. PyTorch CPU float64 does the same
with torch.softmax. Each is timed as the median of repeated evaluations after a warm-up; all use
the same number of threads. Prints a table and one JSON line with the ratios.

With --precision float64 float32, attnflow is also timed with model.precision = "float32" (the
peers stay float64): its row gives the ratios to the peers, its speed-up over attnflow float64
("x f64") and its error against a float64 evaluation (max_i |v_i - r_i| / max_i |r_i|, from
`attnflow bench velocity --precision float32`).

    bench/peers/velocity_peers.py [--n 16384] [--d 3 64] [--threads 2] [--attnflow build/bin/attnflow]
                                  [--precision float64 float32]
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
    parser.add_argument("--precision", nargs="+", default=["float64"], choices=["float64", "float32"],
                        help="attnflow engine precisions to time (the peers are float64)")
    args = parser.parse_args()
    precisions = list(dict.fromkeys(["float64"] + args.precision))  # float64 first: the baseline

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
    attnflow_runs = {}
    for d in args.d:
        for precision in precisions:
            out = subprocess.run([args.attnflow, "bench", "velocity", "--n", str(args.n), "--d", str(d),
                                  "--threads", str(args.threads), "--min-seconds", str(args.min_seconds),
                                  "--precision", precision],
                                 capture_output=True, text=True, check=True)
            attnflow_runs[d, precision] = json.loads(out.stdout)
    for d in args.d:
        x = uniform_sphere(np, args.n, d)
        pairs = float(args.n) ** 2
        peers = {"load_average": os.getloadavg()[0]}
        peers["numpy_s"] = median_time(lambda: numpy_velocity(np, x), args.min_seconds)
        if torch is not None:
            xt = torch.from_numpy(x)
            peers["torch_s"] = median_time(lambda: torch_velocity(torch, xt), args.min_seconds)
            # The peers compute the same field: check it, so the comparison is of equal work.
            diff = np.abs(torch_velocity(torch, xt).numpy() - numpy_velocity(np, x)).max()
            peers["torch_vs_numpy_max_abs_diff"] = float(diff)
        for precision in precisions:
            run = attnflow_runs[d, precision]
            result = {"n": args.n, "d": d, "threads": args.threads, "precision": precision, **peers}
            result["attnflow_s"] = run["seconds"]
            result["attnflow_cpu_s_min"] = run["cpu_seconds_min"]
            result["attnflow_load_average"] = run["load_average"]
            result["pairs_per_second"] = {k[:-2]: pairs / v for k, v in result.items() if k.endswith("_s")}
            result["speedup_vs_numpy"] = result["numpy_s"] / result["attnflow_s"]
            if "torch_s" in result:
                result["speedup_vs_torch"] = result["torch_s"] / result["attnflow_s"]
            base = attnflow_runs[d, "float64"]
            result["speedup_vs_float64"] = base["seconds"] / run["seconds"]
            result["cpu_speedup_vs_float64"] = base["cpu_seconds_min"] / run["cpu_seconds_min"]
            if "accuracy_vs_float64" in run:
                result["accuracy_vs_float64"] = run["accuracy_vs_float64"]
            rows.append(result)

    print(f"{'n':>7} {'d':>4} {'thr':>4} {'precision':>9} {'attnflow s':>11} {'numpy s':>9} {'torch s':>9} "
          f"{'x numpy':>8} {'x torch':>8} {'x f64':>6} {'x f64 cpu':>9} {'rel err':>8}")
    for r in rows:
        err = r.get("accuracy_vs_float64", {}).get("max_error_relative_to_largest", 0.0)
        print(f"{r['n']:>7} {r['d']:>4} {r['threads']:>4} {r['precision']:>9} {r['attnflow_s']:>11.4f} "
              f"{r['numpy_s']:>9.4f} {r.get('torch_s', float('nan')):>9.4f} {r['speedup_vs_numpy']:>8.1f} "
              f"{r.get('speedup_vs_torch', float('nan')):>8.1f} {r['speedup_vs_float64']:>6.2f} "
              f"{r['cpu_speedup_vs_float64']:>9.2f} {err:>8.1e}")
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
