"""Weight files for `kind = "file"` matrices: .npz (numpy.savez, savez_compressed), HDF5 (h5py) and
.safetensors (written here byte by byte from the format's specification) must give runs bitwise
equal to the same weights in a .npy file; bad files give one pinned error line and exit 2."""
import json
import struct

import h5py
import numpy as np
import pytest

D = 3
RNG = np.random.default_rng(7)
X0 = RNG.normal(size=(6, D))
# Multiples of 1/64 in (-2, 2): exactly representable in float16, bfloat16 and float32.
Q0, Q1, Q2 = (RNG.integers(-127, 128, size=(D, D)) / 64.0 for _ in range(3))
LAYERS = np.stack([Q0, Q1, Q2])


def config(q, t_end=3.0):
    return f"""
[model]
geometry = "euclidean"
Q = {q}
[init]
kind = "points"
points = {X0.tolist()}
[integrate]
method = "euler"
dt = 1.0
t_end = {t_end}
[output]
times = [{t_end}]
observables = []
"""


def run(run_cli, tmp_path, q, out):
    (tmp_path / "c.toml").write_text(config(q))
    r = run_cli("run", "c.toml", "-o", out, "-q")
    assert r.returncode == 0, r.stderr
    with h5py.File(tmp_path / out / "run.h5", "r") as f:
        return f["x"][0]


def safetensors(path, tensors, header_edit=None, data_edit=None):
    """A .safetensors file; tensors: name -> (dtype, shape, raw bytes)."""
    header, data = {"__metadata__": {"format": "pt"}}, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if header_edit:
        header_edit(header)
    text = json.dumps(header).encode()
    blob = struct.pack("<Q", len(text)) + text + data
    path.write_bytes(data_edit(blob) if data_edit else blob)


def raw(a, dtype):
    """Little-endian bytes of `a` as a safetensors dtype."""
    if dtype == "BF16":
        return (np.asarray(a, "<f4").view("<u4") >> 16).astype("<u2").tobytes()
    return np.asarray(a, {"F64": "<f8", "F32": "<f4", "F16": "<f2"}[dtype]).tobytes()


@pytest.fixture
def reference(tmp_path, run_cli):
    """Runs with the weights from .npy files: one constant Q0, and the three layers."""
    np.save(tmp_path / "q.npy", Q0)
    np.save(tmp_path / "layers.npy", LAYERS)
    return (run(run_cli, tmp_path, '{ kind = "file", path = "q.npy" }', "ref2"),
            run(run_cli, tmp_path, '{ kind = "file", path = "layers.npy" }', "ref3"))


def write_all(tmp_path):
    np.savez(tmp_path / "two.npz", K=Q1, Q=Q0)
    np.savez_compressed(tmp_path / "one.npz", LAYERS)
    np.savez(tmp_path / "f32.npz", W=LAYERS.astype(np.float32))
    with h5py.File(tmp_path / "w.h5", "w") as f:
        f["layers/Q"] = Q0
        f["layers/all"] = LAYERS.astype(np.float32)
    with h5py.File(tmp_path / "one.hdf5", "w") as f:
        f.create_dataset("deep/er/Q", data=LAYERS, chunks=(1, 3, 3), compression="gzip")
    for dtype in ("F64", "F32", "F16", "BF16"):
        safetensors(tmp_path / f"{dtype}.safetensors",
                    {"q": (dtype, (D, D), raw(Q0, dtype)), "layers": (dtype, (3, D, D), raw(LAYERS, dtype))})


@pytest.mark.parametrize("spec,layered", [
    ('path = "two.npz", array = "Q"', False),
    ('path = "two.npz", array = "Q.npy"', False),
    ('path = "one.npz"', True),
    ('path = "f32.npz"', True),
    ('path = "w.h5", dataset = "/layers/Q"', False),
    ('path = "w.h5", dataset = "layers/all"', True),
    ('path = "one.hdf5"', True),
    ('path = "w.h5", format = "hdf5", dataset = "/layers/Q"', False),
] + [(f'path = "{t}.safetensors", array = "q"', False) for t in ("F64", "F32", "F16", "BF16")]
  + [(f'path = "{t}.safetensors", array = "layers"', True) for t in ("F64", "F32", "F16", "BF16")])
def test_formats_give_the_npy_run_bitwise(tmp_path, run_cli, reference, spec, layered):
    write_all(tmp_path)
    got = run(run_cli, tmp_path, f'{{ kind = "file", {spec} }}', "out")
    np.testing.assert_array_equal(got, reference[1 if layered else 0])


def test_explicit_format_reads_files_named_otherwise(tmp_path, run_cli, reference):
    write_all(tmp_path)
    (tmp_path / "F16.safetensors").rename(tmp_path / "weights.bin")
    got = run(run_cli, tmp_path, '{ kind = "file", path = "weights.bin", format = "safetensors", array = "q" }', "out")
    np.testing.assert_array_equal(got, reference[0])


def truncate(name, keep):
    def edit(tmp_path):
        data = (tmp_path / name).read_bytes()
        (tmp_path / name).write_bytes(data[:keep if keep >= 0 else len(data) + keep])
    return edit


def npz_with(**arrays):
    return lambda tmp_path: np.savez(tmp_path / "bad.npz", **arrays)


def h5_with(**arrays):
    def write(tmp_path):
        with h5py.File(tmp_path / "bad.h5", "w") as f:
            for k, v in arrays.items():
                f[k] = v
    return write


def st_with(tensors, header_edit=None, data_edit=None):
    return lambda tmp_path: safetensors(tmp_path / "bad.safetensors", tensors, header_edit, data_edit)


Q_F32 = {"q": ("F32", (D, D), raw(Q0, "F32"))}

ERRORS = [
    # .npz
    ("npz_missing", npz_with(Q=Q0, K=Q1), 'path = "bad.npz", array = "V"',
     "model.Q.array: the file has no array 'V'; it holds: 'Q', 'K'"),
    ("npz_ambiguous", npz_with(Q=Q0, K=Q1), 'path = "bad.npz"',
     "model.Q.array: is required: the file holds 2 arrays: 'Q', 'K'"),
    ("npz_int64", npz_with(Q=np.ones((D, D), np.int64)), 'path = "bad.npz"',
     "model.Q.path: member 'Q.npy': dtype '<i8' is not supported; allowed: float64 ('<f8') or float32 ('<f4')"),
    ("npz_complex", npz_with(Q=np.ones((D, D), complex)), 'path = "bad.npz"',
     "model.Q.path: member 'Q.npy': dtype '<c16' is not supported; allowed: float64 ('<f8') or float32 ('<f4')"),
    ("npz_rank", npz_with(Q=np.ones(D)), 'path = "bad.npz"',
     "model.Q.path: must hold a 2-D matrix or a 3-D array (layers x rows x cols), got 1 dimensions"),
    ("npz_layers", npz_with(Q=LAYERS[:2]), 'path = "bad.npz"',
     "model.Q.path: has 2 layers of 1 time units (up to t = 2), the run needs t_end = 3"),
    ("npz_columns", npz_with(Q=np.ones((D, 2))), 'path = "bad.npz"', "model.Q: must have d = 3 columns, got 3x2"),
    ("npz_truncated", lambda p: (npz_with(Q=Q0)(p), truncate("bad.npz", -30)(p)), 'path = "bad.npz"',
     "model.Q.path: 'bad.npz' is not a .npz file (not a zip archive, or a truncated one); "
     "write arrays with numpy.savez"),
    ("npz_not_zip", lambda p: (np.save(p / "x.npy", Q0), (p / "x.npy").rename(p / "bad.npz")), 'path = "bad.npz"',
     "model.Q.path: 'bad.npz' is not a .npz file (not a zip archive, or a truncated one); "
     "write arrays with numpy.savez"),
    ("npz_dataset", npz_with(Q=Q0), 'path = "bad.npz", dataset = "Q"',
     "model.Q.dataset: does not apply to this file format; this format selects with array"),
    # HDF5
    ("h5_missing", h5_with(**{"a/Q": Q0, "K": Q1}), 'path = "bad.h5", dataset = "/a/V"',
     "model.Q.dataset: the file has no dataset '/a/V'; it holds: '/K', '/a/Q'"),
    ("h5_ambiguous", h5_with(**{"a/Q": Q0, "K": Q1}), 'path = "bad.h5"',
     "model.Q.dataset: is required: the file holds 2 datasets: '/K', '/a/Q'"),
    ("h5_int64", h5_with(Q=np.ones((D, D), np.int64)), 'path = "bad.h5"',
     "model.Q.path: dataset '/Q' has an integer type; allowed: float64 or float32"),
    ("h5_complex", h5_with(Q=np.ones((D, D), complex)), 'path = "bad.h5"',
     "model.Q.path: dataset '/Q' has a compound (e.g. complex) type; allowed: float64 or float32"),
    ("h5_float16", h5_with(Q=np.ones((D, D), np.float16)), 'path = "bad.h5"',
     "model.Q.path: dataset '/Q' has 16-bit float type; allowed: float64 or float32"),
    ("h5_rank", h5_with(Q=np.ones((2, 2, D, D))), 'path = "bad.h5"',
     "model.Q.path: must hold a 2-D matrix or a 3-D array (layers x rows x cols), got 4 dimensions"),
    ("h5_layers", h5_with(Q=LAYERS[:1]), 'path = "bad.h5"',
     "model.Q.path: has 1 layers of 1 time units (up to t = 1), the run needs t_end = 3"),
    ("h5_truncated", lambda p: (h5_with(Q=LAYERS)(p), truncate("bad.h5", 1500)(p)), 'path = "bad.h5"',
     "model.Q.path: cannot open the HDF5 file 'bad.h5' (truncated or corrupt)"),
    ("h5_not_hdf5", lambda p: (np.save(p / "x.npy", Q0), (p / "x.npy").rename(p / "bad.h5")), 'path = "bad.h5"',
     "model.Q.path: 'bad.h5' is not an HDF5 file"),
    ("h5_array", h5_with(Q=Q0), 'path = "bad.h5", array = "Q"',
     "model.Q.array: does not apply to this file format; HDF5 files select with dataset"),
    # safetensors
    ("st_missing", st_with(Q_F32), 'path = "bad.safetensors", array = "k"',
     "model.Q.array: the file has no tensor 'k'; it holds: 'q'"),
    ("st_int64", st_with({"q": ("I64", (D, D), np.ones((D, D), "<i8").tobytes())}), 'path = "bad.safetensors"',
     "model.Q.path: tensor 'q' has dtype I64, which is not supported; allowed: F64, F32, F16, BF16"),
    ("st_complex", st_with({"q": ("C64", (D, D), np.ones((D, D), "<c8").tobytes())}), 'path = "bad.safetensors"',
     "model.Q.path: tensor 'q' has dtype C64, which is not supported; allowed: F64, F32, F16, BF16"),
    ("st_rank", st_with({"q": ("F32", (9,), raw(Q0, "F32"))}), 'path = "bad.safetensors"',
     "model.Q.path: must hold a 2-D matrix or a 3-D array (layers x rows x cols), got 1 dimensions"),
    ("st_layers", st_with({"q": ("F32", (2, D, D), raw(LAYERS[:2], "F32"))}), 'path = "bad.safetensors"',
     "model.Q.path: has 2 layers of 1 time units (up to t = 2), the run needs t_end = 3"),
    ("st_truncated_data", st_with(Q_F32, data_edit=lambda b: b[:-4]), 'path = "bad.safetensors"',
     "model.Q.path: tensor 'q' has data_offsets [0, 36] beyond the data section of 32 bytes "
     "(truncated or corrupt file)"),
    ("st_truncated_header", st_with(Q_F32, data_edit=lambda b: b[:20]), 'path = "bad.safetensors"',
     "model.Q.path: file is truncated inside the .safetensors header: it declares 99 header bytes, found 12"),
    ("st_tiny", st_with(Q_F32, data_edit=lambda b: b[:5]), 'path = "bad.safetensors"',
     "model.Q.path: file is truncated: a .safetensors file starts with an 8-byte header length, found 5 bytes"),
    ("st_offsets_out_of_range",
     st_with(Q_F32, header_edit=lambda h: h["q"].update(data_offsets=[2**40, 2**40 + 36])), 'path = "bad.safetensors"',
     "model.Q.path: tensor 'q' has data_offsets [1099511627776, 1099511627812] beyond the data section "
     "of 36 bytes (truncated or corrupt file)"),
    ("st_offsets_vs_shape", st_with(Q_F32, header_edit=lambda h: h["q"].update(shape=[4, D])), 'path = "bad.safetensors"',
     "model.Q.path: malformed .safetensors header: tensor 'q' has data_offsets [0, 36] spanning 36 bytes; "
     "shape (4, 3) of F32 needs 48"),
    ("st_offsets_reversed", st_with(Q_F32, header_edit=lambda h: h["q"].update(data_offsets=[36, 0])),
     'path = "bad.safetensors"',
     "model.Q.path: malformed .safetensors header: tensor 'q' has data_offsets that are not [begin, end] "
     "with 0 <= begin <= end"),
    ("st_negative_shape", st_with(Q_F32, header_edit=lambda h: h["q"].update(shape=[-3, -3])),
     'path = "bad.safetensors"',
     "model.Q.path: malformed .safetensors header: tensor 'q' has a shape that is not a list of "
     "non-negative integers"),
    ("st_not_json", st_with(Q_F32, data_edit=lambda b: b[:8] + b"!" + b[9:]), 'path = "bad.safetensors"', None),
    # the table itself
    ("unknown_extension", npz_with(Q=Q0), 'path = "bad.bin"',
     "model.Q.path: cannot tell the format of 'bad.bin' from its extension; allowed: .npy, .npz, .h5, .hdf5, "
     ".safetensors, or set format = npy, npz, hdf5, safetensors"),
    ("unknown_format", npz_with(Q=Q0), 'path = "bad.npz", format = "zip"',
     "model.Q.format: unknown format 'zip'; allowed: npy, npz, hdf5, safetensors"),
    ("missing_file", npz_with(Q=Q0), 'path = "nope.safetensors"',
     "model.Q.path: file not found: 'nope.safetensors'"),
    ("directory", lambda p: (p / "dir.h5").mkdir(), 'path = "dir.h5"',
     "model.Q.path: 'dir.h5' is not a regular file; expected an HDF5 file"),
]


@pytest.mark.parametrize("name,make,spec,message", ERRORS, ids=[e[0] for e in ERRORS])
def test_bad_weight_files(tmp_path, run_cli, name, make, spec, message):
    make(tmp_path)
    (tmp_path / "c.toml").write_text(config(f"{{ kind = \"file\", {spec} }}"))
    r = run_cli("run", "c.toml", "-o", "out")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert not (tmp_path / "out").exists()
    if message is None:  # the JSON library's own words follow the pinned prefix
        assert r.stderr.startswith("error: model.Q.path: malformed .safetensors header: not valid JSON (")
        assert r.stderr.count("\n") == 1 and r.stderr.endswith(")\n")
    else:
        assert r.stderr == "error: " + message.replace("{tmp}", str(tmp_path)) + "\n"


@pytest.mark.parametrize("name", ["w.npz", "w.h5", "w.safetensors"])
def test_every_truncation_is_one_error_line(tmp_path, run_cli, name):
    """Cut anywhere (inside headers, member data, the zip directory, HDF5 metadata): exit 2 and one
    line naming the file key, never a crash or a silently shorter array."""
    if name == "w.npz":
        np.savez_compressed(tmp_path / name, Q=LAYERS)
    elif name == "w.h5":
        with h5py.File(tmp_path / name, "w") as f:
            f["Q"] = LAYERS
    else:
        safetensors(tmp_path / name, {"Q": ("F16", (3, D, D), raw(LAYERS, "F16"))})
    whole = (tmp_path / name).read_bytes()
    (tmp_path / "c.toml").write_text(config(f'{{ kind = "file", path = "{name}" }}'))
    for keep in sorted({0, 1, 7, 8, 9, 30, 64, 100, 200, 512, 1024, 2048} | {len(whole) - k for k in (1, 4, 22, 40)}):
        if keep >= len(whole):
            continue
        (tmp_path / name).write_bytes(whole[:keep])
        r = run_cli("run", "c.toml", "-o", "out")
        assert r.returncode == 2, (keep, r.stderr)
        assert r.stderr.startswith("error: model.Q.path: ") and r.stderr.count("\n") == 1, (keep, r.stderr)
        assert not (tmp_path / "out").exists()
