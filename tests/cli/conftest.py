"""Shared fixtures for the end-to-end tests of the `attnflow` command line."""
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def attnflow_bin():
    path = str(pathlib.Path(os.environ.get("ATTNFLOW_BIN", ROOT / "build" / "bin" / "attnflow")).resolve())
    if not pathlib.Path(path).exists():
        pytest.fail(f"attnflow binary not found at {path}; build first (make build)")
    return path


@pytest.fixture
def run_cli(attnflow_bin, tmp_path):
    """Runs the CLI in tmp_path and returns the CompletedProcess (text mode)."""

    def run(*args, env=None):
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        return subprocess.run([attnflow_bin, *map(str, args)], cwd=tmp_path, capture_output=True,
                              text=True, env=full_env, timeout=600)

    return run
