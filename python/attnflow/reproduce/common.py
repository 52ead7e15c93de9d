"""Helpers shared by the reproductions: reading engine outputs and small numerical utilities."""
from __future__ import annotations

import numpy as np


def read_sweep(path):
    """(t, axes {key: values}, datasets {name: array}) of a sweep.h5."""
    import h5py
    with h5py.File(path, "r") as f:
        t = f["t"][()]
        data, axes = {}, {}
        for name, obj in f.items():
            if name == "t" or not hasattr(obj, "shape"):
                continue
            if obj.ndim == 1 and "." in name and not name.endswith((".mean", ".median")) \
                    and "quantile" not in name:
                axes[name] = obj[()]
            else:
                data[name] = obj[()]
    return t, axes, data


def first_crossing(t, y, level):
    """First time at which y(t) >= level, linearly interpolated between samples; nan if never."""
    t = np.asarray(t, dtype=float)
    y = np.asarray(y, dtype=float)
    above = np.nonzero(y >= level)[0]
    if above.size == 0:
        return float("nan")
    k = int(above[0])
    if k == 0:
        return float(t[0])
    y0, y1 = y[k - 1], y[k]
    return float(t[k - 1] + (level - y0) * (t[k] - t[k - 1]) / (y1 - y0))


def equiangular_hitting_time(ctx, kernel, n, beta, rho0, t_end, threshold=0.999,
                             normalization="post_ln"):
    """Hitting time of `threshold` by the equiangular ODE (`attnflow equiangular`), nan if not hit."""
    out = ctx.cli("equiangular", "--kernel", kernel, "--n", n, "--beta", repr(float(beta)),
                  "--rho0", repr(float(rho0)), "--t-end", repr(float(t_end)), "--points", 1,
                  "--threshold", threshold, "--normalization", normalization).stdout
    for line in out.splitlines():
        if line.startswith("# hitting_time="):
            value = line.split("=", 1)[1].split()[0]
            return float(value) if value not in ("none", "nan", "inf") else float("nan")
    raise RuntimeError("`attnflow equiangular` printed no hitting time")


def read_csv_columns(text):
    """Columns of a CSV printed by the CLI (lines starting with # are comments)."""
    import csv
    import io
    rows = list(csv.DictReader(line for line in io.StringIO(text) if not line.startswith("#")))
    return {k: np.array([float(r[k]) if r[k] != "" else np.nan for r in rows]) for k in rows[0]}
