"""The engine's vector width (simd_dispatch.hpp) from the command line: ATTNFLOW_SIMD and
`bench --simd` select it, the widths with FMA (AVX-512, AVX2) write bitwise the same trajectory and
SSE2 (multiply-adds rounded twice) one within round-off of it, and unknown names are refused with
one error line and exit status 2."""
import json

import h5py
import numpy as np

CONFIG = """
[model]
geometry = "sphere"
kernel = "softmax"
beta = 2.0
[init]
kind = "uniform_sphere"
n = 700
d = 5
seed = 11
[integrate]
method = "rk4"
dt = 0.05
t_end = 0.2
[output]
every = 0.1
observables = ["energy"]
"""


def trajectory(tmp_path, run_cli, name, simd):
    """Positions and energies of the run at width `simd` ("": the default), or None where this
    CPU lacks the width."""
    (tmp_path / "simd.toml").write_text(CONFIG)
    r = run_cli("run", "simd.toml", "-o", name, env={"ATTNFLOW_SIMD": simd})
    if r.returncode == 2 and "does not support" in r.stderr:
        return None
    assert r.returncode == 0, r.stderr
    with h5py.File(tmp_path / name / "run.h5", "r") as f:
        return f["x"][:], f["energy"][:]


def test_widths_write_the_same_trajectory(tmp_path, run_cli):
    x_best, e_best = trajectory(tmp_path, run_cli, "widest", "")
    for simd in ("avx512", "avx2"):
        other = trajectory(tmp_path, run_cli, simd, simd)
        if other is not None:
            np.testing.assert_array_equal(other[0], x_best)
            np.testing.assert_array_equal(other[1], e_best)
    x_sse2, e_sse2 = trajectory(tmp_path, run_cli, "sse2", "sse2")
    # Each velocity evaluation of both widths is within the engine's error bound of the exact one
    # (engine_test_support.hpp: ~(k + log N + 20) u · β|x|² ≈ 1e-14 here, k = d = 5, N = 700,
    # β = 2, unit tokens), so they differ by ≤ 2e-14 per evaluation; RK4 weights its 16
    # evaluations by dt/6..dt/3 over t_end = 0.2, moving positions by ≤ 0.2 · 2e-14 = 4e-15, plus
    # the renormalisation's few ulps of 1 per step. 1e-13 leaves a margin of 10 over that sum; the
    # energy (O(1), a sum of N² terms of relative error ≤ 1e-14) likewise within 1e-13.
    np.testing.assert_allclose(x_sse2, x_best, rtol=0, atol=1e-13)
    np.testing.assert_allclose(e_sse2, e_best, rtol=1e-13, atol=0)


def test_bench_reports_and_selects_the_width(run_cli):
    args = ("bench", "velocity", "--n", "500", "--d", "4", "--threads", "1", "--min-seconds", "0.01")
    widest = json.loads(run_cli(*args).stdout)
    r = run_cli(*args, "--simd", "sse2")
    assert r.returncode == 0, r.stderr
    narrow = json.loads(r.stdout)
    assert widest["simd"] in ("avx512", "avx2", "sse2")
    assert narrow["simd"] == "sse2"
    # The checksum sums N·d = 2000 velocity entries, each within ~2e-14 of the other width's
    # (the bound above), against a total of O(1)-O(10): 1e-12 relative covers 2000 · 2e-14.
    assert abs(narrow["checksum"] - widest["checksum"]) <= 1e-12 * abs(widest["checksum"])


def test_unknown_widths_are_refused(tmp_path, run_cli):
    (tmp_path / "simd.toml").write_text(CONFIG)
    r = run_cli("run", "simd.toml", "-o", "out", env={"ATTNFLOW_SIMD": "avx1024"})
    assert r.returncode == 2
    assert r.stderr == ("error: ATTNFLOW_SIMD: unknown vector width 'avx1024'; "
                        "allowed: avx512, avx2, sse2\n")
    assert not (tmp_path / "out").exists()
    r = run_cli("bench", "velocity", "--n", "100", "--simd", "neon")
    assert r.returncode == 2
    assert r.stderr == "error: --simd: unknown vector width 'neon'; allowed: avx512, avx2, sse2\n"
