"""The machinery behind ``attnflow reproduce``: manifests, the run context, checks and results.

A reproduction is a manifest ``experiments/reproduce/NAME.toml`` (what it reproduces, from which
paper, and the checks with their tolerances and justifications) plus a module
``attnflow.reproduce.<module>`` whose ``run(ctx)`` computes numbers and figures through the engine.
The framework is the only place that decides whether a number passes: modules record values with
``ctx.value``; the manifest says what they are compared with.
"""
from __future__ import annotations

import csv
import importlib
import json
import math
import os
import pathlib
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field

MANIFEST_KEYS = {"paper", "title", "source", "module", "description", "configs"}
CHECK_KEYS = {"quantity", "value", "published", "expected", "tolerance", "rel_tolerance", "at_least",
              "at_most", "modes", "explanation"}
PAPERS = {"R", "B", "C", "M"}
MODES = ("quick", "full")


class InputError(Exception):
    """Bad input (unknown name, malformed manifest): ``error: <key>: <message>``, exit status 2."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


class ReproductionError(Exception):
    """A reproduction could not compute its numbers (an engine command failed, ...)."""


def experiments_dir() -> pathlib.Path:
    """$ATTNFLOW_EXPERIMENTS (set by the C++ command line), else the source tree's experiments/."""
    env = os.environ.get("ATTNFLOW_EXPERIMENTS")
    if env:
        return pathlib.Path(env)
    return pathlib.Path(__file__).resolve().parents[3] / "experiments"


def attnflow_exe() -> str:
    """$ATTNFLOW_EXE (set by the C++ command line), else $ATTNFLOW_BIN, else `attnflow` on PATH."""
    for name in ("ATTNFLOW_EXE", "ATTNFLOW_BIN"):
        if os.environ.get(name):
            return os.environ[name]
    found = shutil.which("attnflow")
    if found is None:
        raise InputError("reproduce", "the attnflow executable was not found (run it as `attnflow "
                                      "reproduce`, or set ATTNFLOW_EXE)")
    return found


@dataclass
class Check:
    """One row of the validation table: a recorded value against a reference."""
    quantity: str
    value: str
    explanation: str
    published: float | None = None
    expected: float | None = None
    tolerance: float | None = None
    rel_tolerance: float | None = None
    at_least: float | None = None
    at_most: float | None = None
    modes: tuple = MODES

    @property
    def reference(self) -> float | None:
        return self.published if self.published is not None else self.expected

    @property
    def reference_kind(self) -> str:
        if self.published is not None:
            return "published"
        return "derived" if self.expected is not None else "bound"

    def tolerance_text(self) -> str:
        parts = []
        if self.tolerance is not None:
            parts.append(f"±{self.tolerance:.3g}")
        if self.rel_tolerance is not None:
            parts.append(f"±{self.rel_tolerance:.3g} rel.")
        if self.at_least is not None:
            parts.append(f"≥ {self.at_least:.6g}")
        if self.at_most is not None:
            parts.append(f"≤ {self.at_most:.6g}")
        return ", ".join(parts)

    def evaluate(self, values: dict) -> dict:
        """The row of results.json for this check (`passed` is None when the value is missing)."""
        row = {"quantity": self.quantity, "value_key": self.value, "reference_kind": self.reference_kind,
               "reference": self.reference, "tolerance": self.tolerance_text(),
               "explanation": self.explanation}
        value = values.get(self.value)
        row["value"] = value
        if value is None or not math.isfinite(value):
            row.update(difference=None, passed=False,
                       failure="value not recorded" if value is None else "value is not finite")
            return row
        ok = True
        ref = self.reference
        row["difference"] = None if ref is None else value - ref
        if self.tolerance is not None:
            ok &= abs(value - ref) <= self.tolerance
        if self.rel_tolerance is not None:
            ok &= abs(value - ref) <= self.rel_tolerance * abs(ref)
        if self.at_least is not None:
            ok &= value >= self.at_least
        if self.at_most is not None:
            ok &= value <= self.at_most
        row["passed"] = bool(ok)
        return row


def _number(table: dict, key: str, where: str) -> float | None:
    if key not in table:
        return None
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{where}.{key}", f"must be a finite number, got {value!r}")
    return float(value)


@dataclass
class Manifest:
    """experiments/reproduce/NAME.toml."""
    name: str
    path: pathlib.Path
    paper: str
    title: str
    source: str
    module: str
    description: str
    configs: list = field(default_factory=list)
    checks: list = field(default_factory=list)

    @staticmethod
    def load(path: pathlib.Path) -> "Manifest":
        name = path.stem
        try:
            with open(path, "rb") as f:
                doc = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise InputError(f"reproduce.{name}", f"cannot read {path}: {e}") from None
        unknown = set(doc) - {"reproduce", "check"}
        if unknown:
            raise InputError(f"reproduce.{name}.{sorted(unknown)[0]}",
                             "unknown table; allowed: [reproduce], [[check]]")
        head = doc.get("reproduce")
        if not isinstance(head, dict):
            raise InputError(f"reproduce.{name}", "the manifest needs a [reproduce] table")
        for key in head:
            if key not in MANIFEST_KEYS:
                raise InputError(f"reproduce.{name}.{key}",
                                 f"unknown key; allowed: {', '.join(sorted(MANIFEST_KEYS))}")
        for key in ("paper", "title", "source", "module", "description"):
            if not isinstance(head.get(key), str) or not head[key].strip():
                raise InputError(f"reproduce.{name}.{key}", "missing or not a non-empty string")
        if head["paper"] not in PAPERS:
            raise InputError(f"reproduce.{name}.paper",
                             f"unknown paper {head['paper']!r}; allowed: {', '.join(sorted(PAPERS))}")
        manifest = Manifest(name=name, path=path, paper=head["paper"], title=head["title"],
                            source=head["source"], module=head["module"],
                            description=head["description"].strip(),
                            configs=list(head.get("configs", [])))
        checks = doc.get("check", [])
        if not isinstance(checks, list):
            raise InputError(f"reproduce.{name}.check", "must be an array of tables ([[check]])")
        for i, table in enumerate(checks):
            manifest.checks.append(_parse_check(table, f"reproduce.{name}.check[{i}]"))
        return manifest


def _parse_check(table: dict, where: str) -> Check:
    for key in table:
        if key not in CHECK_KEYS:
            raise InputError(f"{where}.{key}", f"unknown key; allowed: {', '.join(sorted(CHECK_KEYS))}")
    for key in ("quantity", "value", "explanation"):
        if not isinstance(table.get(key), str) or not table[key].strip():
            raise InputError(f"{where}.{key}", "missing or not a non-empty string")
    check = Check(quantity=table["quantity"], value=table["value"], explanation=table["explanation"],
                  **{k: _number(table, k, where) for k in
                     ("published", "expected", "tolerance", "rel_tolerance", "at_least", "at_most")})
    if check.published is not None and check.expected is not None:
        raise InputError(f"{where}.expected", "give either `published` or `expected`, not both")
    has_tol = check.tolerance is not None or check.rel_tolerance is not None
    has_bound = check.at_least is not None or check.at_most is not None
    if has_tol and check.reference is None:
        raise InputError(f"{where}.tolerance", "a tolerance needs a `published` or `expected` value")
    if not has_tol and not has_bound:
        raise InputError(where, "a check needs `tolerance`, `rel_tolerance`, `at_least` or `at_most`")
    for key in ("tolerance", "rel_tolerance"):
        if getattr(check, key) is not None and getattr(check, key) < 0:
            raise InputError(f"{where}.{key}", "must be >= 0")
    modes = table.get("modes", list(MODES))
    if not isinstance(modes, list) or not modes or any(m not in MODES for m in modes):
        raise InputError(f"{where}.modes", f"must be a non-empty list of {', '.join(MODES)}")
    check.modes = tuple(modes)
    return check


def manifests() -> dict:
    """Every reproduction, by name, from experiments/reproduce/*.toml (sorted)."""
    directory = experiments_dir() / "reproduce"
    if not directory.is_dir():
        raise InputError("reproduce", f"no reproductions found: {directory} is not a directory "
                                      "(set ATTNFLOW_EXPERIMENTS to the experiments/ folder)")
    return {p.stem: Manifest.load(p) for p in sorted(directory.glob("*.toml"))}


class Context:
    """What a reproduction's ``run(ctx)`` sees: where to write, which mode, how to run the engine."""

    def __init__(self, manifest: Manifest, out: pathlib.Path, quick: bool, threads: int):
        self.manifest = manifest
        self.out = out
        self.quick = quick
        self.threads = threads
        self.values: dict = {}
        self.figures: list = []
        self.files: list = []

    @property
    def mode(self) -> str:
        return "quick" if self.quick else "full"

    def experiment(self, name: str) -> pathlib.Path:
        """experiments/NAME (a config the reproduction runs); must exist."""
        path = experiments_dir() / name
        if not path.exists():
            raise ReproductionError(f"experiment config {path} not found")
        return path

    def cli(self, *args, check: bool = True) -> subprocess.CompletedProcess:
        """Runs the attnflow executable with ARGS (threads through OMP_NUM_THREADS)."""
        env = dict(os.environ, OMP_NUM_THREADS=str(self.threads))
        env.setdefault("OMP_WAIT_POLICY", "passive")
        cmd = [attnflow_exe(), *map(str, args)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if check and proc.returncode != 0:
            raise ReproductionError(f"`{' '.join(cmd[1:])}` failed (exit {proc.returncode}): "
                                    f"{(proc.stderr or proc.stdout).strip()}")
        return proc

    def value(self, key: str, value) -> float:
        """Records a number of the reproduction (compared with the manifest's checks)."""
        value = float(value)
        self.values[key] = value
        return value

    def csv(self, name: str, header, rows) -> pathlib.Path:
        path = self.out / name
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            for row in rows:
                writer.writerow([_csv_cell(v) for v in row])
        self.files.append(name)
        return path

    def json(self, name: str, obj) -> pathlib.Path:
        path = self.out / name
        path.write_text(json.dumps(obj, indent=2, default=_json_default) + "\n")
        self.files.append(name)
        return path

    def subplots(self, *args, **kwargs):
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        return plt.subplots(*args, **kwargs)

    def figure(self, fig, name: str, caption: str) -> pathlib.Path:
        """Saves a matplotlib figure as OUT/NAME (PNG) with its caption; closes it."""
        import matplotlib.pyplot as plt
        path = self.out / name
        fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
        plt.close(fig)
        self.figures.append({"file": name, "caption": caption})
        return path


def _csv_cell(v):
    if isinstance(v, float):
        return repr(v)
    return v


def _json_default(obj):
    try:
        import numpy as np
        if isinstance(obj, np.ndarray):
            return obj.tolist()
        if isinstance(obj, np.generic):
            return obj.item()
    except ImportError:
        pass
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def run_reproduction(manifest: Manifest, outdir: pathlib.Path, quick: bool, threads: int) -> dict:
    """Runs one reproduction into OUTDIR/NAME (built under a temporary name, then renamed, so an
    interrupted run never leaves a half-written directory) and returns its results."""
    # Absolute, so that paths handed to the engine do not resolve against a config's folder.
    outdir = outdir.resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    final = outdir / manifest.name
    tmp = outdir / f".{manifest.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    ctx = Context(manifest, tmp, quick, threads)
    start = time.monotonic()
    error = None
    try:
        module = importlib.import_module(f"attnflow.reproduce.{manifest.module}")
        module.run(ctx)
    except ReproductionError as e:
        error = str(e)
    except Exception as e:  # a bug in a reproduction: keep going with the others, report it
        import traceback
        error = f"{type(e).__name__}: {e}"
        traceback.print_exc(file=sys.stderr)
    elapsed = time.monotonic() - start
    rows = [c.evaluate(ctx.values) for c in manifest.checks if ctx.mode in c.modes]
    results = {
        "name": manifest.name, "paper": manifest.paper, "title": manifest.title,
        "source": manifest.source, "description": manifest.description, "mode": ctx.mode,
        "threads": threads, "elapsed_s": round(elapsed, 2), "error": error,
        "passed": error is None and all(r["passed"] for r in rows),
        "values": ctx.values, "checks": rows, "figures": ctx.figures, "files": ctx.files,
    }
    (tmp / "results.json").write_text(json.dumps(results, indent=2, default=_json_default) + "\n")
    with open(tmp / "checks.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["quantity", "reference_kind", "reference", "value", "difference",
                         "tolerance", "passed", "explanation"])
        for r in rows:
            writer.writerow([r["quantity"], r["reference_kind"], _csv_cell(r["reference"]),
                             _csv_cell(r["value"]), _csv_cell(r["difference"]), r["tolerance"],
                             r["passed"], r["explanation"]])
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    return results
