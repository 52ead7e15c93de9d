"""Every example in examples/ runs (in its --quick form) and writes what it says it writes."""
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))

# what each example must leave in its --out directory
OUTPUTS = {
    "quickstart": ["observables.png", "tokens.png"],
    "sphere_movie": ["sphere.gif"],
    "phase_diagram": ["phase_diagram.png"],
    "gaussian_cone": ["cone.png"],
    "normalization_schemes": ["schemes.png"],
    "transformer_layer": [],
}


def test_every_example_is_listed():
    assert {p.stem for p in EXAMPLES} == set(OUTPUTS)


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(example, tmp_path, python_env):
    out = tmp_path / example.stem
    r = subprocess.run([sys.executable, str(example), "--quick", "--out", str(out)], capture_output=True, text=True,
                       env=python_env, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    for name in OUTPUTS[example.stem]:
        assert (out / name).stat().st_size > 1000, name
    assert "Traceback" not in r.stderr
