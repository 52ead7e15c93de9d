#!/usr/bin/env python3
"""Side-by-side throughput of the phase-diagram workload: B independent small systems of SA on the
sphere (Q = K = V = I, float64), each taking the same number of Euler steps x <- LN(x + dt A(x)),
A(x) = softmax(beta x x^T) x, LN = row renormalisation. attnflow (`attnflow bench batch`, systems
over OpenMP threads), PyTorch CPU batched (torch.bmm + torch.softmax + torch.bmm) and NumPy batched
(matmul on stacked arrays), in one invocation on one machine, same threads. Times are the minimum
over repeats of the whole B x steps loop (after a warm-up); the machine's load average is printed.

    bench/peers/batch_peers.py [--n 32] [--d 128] [--systems 2048] [--steps 10] [--threads 2]
"""
import argparse
import json
import os
import subprocess
import sys
import time


def min_time(fn, repeats):
    """(min wall seconds, min process CPU seconds) over repeats, after a warm-up."""
    fn()  # warm-up: allocations, page faults, thread pools
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - start_cpu)
    return best, best_cpu


def initial_states(np, b, n, d, seed=1):
    x = np.random.default_rng(seed).normal(size=(b, n, d))
    return x / np.linalg.norm(x, axis=2, keepdims=True)


def numpy_steps(np, x0, steps, dt, beta=1.0):
    x = x0.copy()
    for _ in range(steps):
        s = beta * np.matmul(x, x.transpose(0, 2, 1))
        s -= s.max(axis=2, keepdims=True)
        np.exp(s, out=s)
        s /= s.sum(axis=2, keepdims=True)
        x = x + dt * np.matmul(s, x)
        x /= np.linalg.norm(x, axis=2, keepdims=True)
    return x


def torch_steps(torch, x0, steps, dt, beta=1.0):
    x = x0.clone()
    for _ in range(steps):
        a = torch.softmax(beta * torch.bmm(x, x.transpose(1, 2)), dim=2)
        x = x + dt * torch.bmm(a, x)
        x = x / torch.linalg.vector_norm(x, dim=2, keepdim=True)
    return x


def load_average():
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--d", type=int, default=128)
    parser.add_argument("--systems", type=int, default=2048)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--dt", type=float, default=0.1)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--attnflow", default=os.path.join(os.path.dirname(__file__), "../../build/bin/attnflow"))
    args = parser.parse_args()

    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import numpy as np
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None

    work = float(args.systems) * args.steps
    result = {"n": args.n, "d": args.d, "systems": args.systems, "steps": args.steps, "dt": args.dt,
              "threads": args.threads, "load_average_before": load_average()}
    out = subprocess.run([args.attnflow, "bench", "batch", "--n", str(args.n), "--d", str(args.d),
                          "--systems", str(args.systems), "--steps", str(args.steps), "--dt", str(args.dt),
                          "--method", "euler", "--threads", str(args.threads),
                          "--repeats", str(args.repeats)], capture_output=True, text=True, check=True)
    af = json.loads(out.stdout)
    result["attnflow_s"] = af["seconds_min"]
    cpu = {"attnflow": af["cpu_seconds_min"]}
    x0 = initial_states(np, args.systems, args.n, args.d)
    result["numpy_s"], cpu["numpy"] = min_time(lambda: numpy_steps(np, x0, args.steps, args.dt), args.repeats)
    if torch is not None:
        xt = torch.from_numpy(x0)
        result["torch_s"], cpu["torch"] = min_time(lambda: torch_steps(torch, xt, args.steps, args.dt),
                                                   args.repeats)
        # The peers compute the same trajectories: check it, so the comparison is of equal work.
        diff = np.abs(torch_steps(torch, xt, args.steps, args.dt).numpy()
                      - numpy_steps(np, x0, args.steps, args.dt)).max()
        result["torch_vs_numpy_max_abs_diff"] = float(diff)
    result["load_average_after"] = load_average()
    # CPU seconds (all threads of the process): what a shared machine distorts least.
    result["cpu_seconds"] = cpu
    result["speedup_vs_numpy_cpu"] = cpu["numpy"] / cpu["attnflow"]
    if "torch" in cpu:
        result["speedup_vs_torch_cpu"] = cpu["torch"] / cpu["attnflow"]
    result["system_steps_per_second"] = {k[:-2]: work / v for k, v in result.items() if k.endswith("_s")}
    result["speedup_vs_numpy"] = result["numpy_s"] / result["attnflow_s"]
    if "torch_s" in result:
        result["speedup_vs_torch"] = result["torch_s"] / result["attnflow_s"]

    print(f"{'n':>4} {'d':>4} {'B':>6} {'steps':>5} {'thr':>4} {'attnflow s':>11} {'numpy s':>9} "
          f"{'torch s':>9} {'x numpy':>8} {'x torch':>8}")
    print(f"{args.n:>4} {args.d:>4} {args.systems:>6} {args.steps:>5} {args.threads:>4} "
          f"{result['attnflow_s']:>11.4f} {result['numpy_s']:>9.4f} {result.get('torch_s', float('nan')):>9.4f} "
          f"{result['speedup_vs_numpy']:>8.2f} {result.get('speedup_vs_torch', float('nan')):>8.2f}")
    print("by CPU time: " + ", ".join(f"{k} {v:.4g} s" for k, v in cpu.items())
          + f"; x numpy {result['speedup_vs_numpy_cpu']:.2f}, x torch {result.get('speedup_vs_torch_cpu', float('nan')):.2f}")
    print(f"system-steps/s: " + ", ".join(f"{k} {v:.4g}" for k, v in result["system_steps_per_second"].items())
          + f"; load average {result['load_average_before']:.2f} -> {result['load_average_after']:.2f}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
