"""Fixtures for the tests of the attnflow Python package (run by ctest as `python_pytest`, with
PYTHONPATH and ATTNFLOW_PYTHON_DIR set to that build directory's python/ and ATTNFLOW_BIN to its
binary, so any build directory tests its own module; standalone they fall back to build/)."""
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PYTHON_DIR = pathlib.Path(os.environ.get("ATTNFLOW_PYTHON_DIR", ROOT / "build" / "python"))
if not any(pathlib.Path(p or ".").resolve() == PYTHON_DIR.resolve() for p in sys.path):
    sys.path.insert(0, str(PYTHON_DIR))
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def attnflow_bin():
    path = pathlib.Path(os.environ.get("ATTNFLOW_BIN", ROOT / "build" / "bin" / "attnflow")).resolve()
    if not path.exists():
        pytest.fail(f"attnflow binary not found at {path}; build first (make build)")
    return str(path)


@pytest.fixture
def run_cli(attnflow_bin, tmp_path):
    """Runs the CLI in tmp_path and returns the CompletedProcess (text mode)."""

    def run(*args, env=None, cwd=None):
        full_env = dict(os.environ)
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PYTHON_DIR), os.environ.get("PYTHONPATH")]))
        if env:
            full_env.update(env)
        return subprocess.run([attnflow_bin, *map(str, args)], cwd=cwd or tmp_path, capture_output=True,
                              text=True, env=full_env, timeout=600)

    return run


@pytest.fixture
def python_env():
    """Environment for subprocesses that import attnflow."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PYTHON_DIR), os.environ.get("PYTHONPATH")]))
    env["MPLBACKEND"] = "Agg"
    return env
