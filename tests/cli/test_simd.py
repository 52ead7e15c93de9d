"""The engine's vector width (simd_dispatch.hpp) from the command line: ATTNFLOW_SIMD and
`bench --simd` select it, every width writes bitwise the same trajectory, and unknown names are
refused with one error line and exit status 2."""
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
    (tmp_path / "simd.toml").write_text(CONFIG)
    r = run_cli("run", "simd.toml", "-o", name, env={"ATTNFLOW_SIMD": simd})
    assert r.returncode == 0, r.stderr
    with h5py.File(tmp_path / name / "run.h5", "r") as f:
        return f["x"][:], f["energy"][:]


def test_every_width_writes_the_same_bits(tmp_path, run_cli):
    x_best, e_best = trajectory(tmp_path, run_cli, "widest", "")
    x_sse2, e_sse2 = trajectory(tmp_path, run_cli, "sse2", "sse2")
    np.testing.assert_array_equal(x_sse2, x_best)
    np.testing.assert_array_equal(e_sse2, e_best)


def test_bench_reports_and_selects_the_width(run_cli):
    args = ("bench", "velocity", "--n", "500", "--d", "4", "--threads", "1", "--min-seconds", "0.01")
    widest = json.loads(run_cli(*args).stdout)
    r = run_cli(*args, "--simd", "sse2")
    assert r.returncode == 0, r.stderr
    narrow = json.loads(r.stdout)
    assert widest["simd"] in ("avx512", "avx2", "sse2")
    assert narrow["simd"] == "sse2"
    assert narrow["checksum"] == widest["checksum"]


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
