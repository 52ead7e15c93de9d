"""Fixtures for the `attnflow reproduce` tests (the binary from $ATTNFLOW_BIN or build/)."""
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def attnflow_bin():
    path = pathlib.Path(os.environ.get("ATTNFLOW_BIN", ROOT / "build" / "bin" / "attnflow")).resolve()
    if not path.exists():
        pytest.fail(f"attnflow binary not found at {path}; build first (make build)")
    return str(path)


@pytest.fixture
def reproduce(attnflow_bin, tmp_path):
    """Runs `attnflow reproduce ARGS...` in tmp_path; returns the CompletedProcess (text)."""

    def run(*args, env=None):
        full_env = dict(os.environ, MPLBACKEND="Agg")
        full_env.update(env or {})
        return subprocess.run([attnflow_bin, "reproduce", *map(str, args)], cwd=tmp_path,
                              capture_output=True, text=True, env=full_env, timeout=900)

    return run
