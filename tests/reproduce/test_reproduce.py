"""`attnflow reproduce`: every reproduction's --quick variant passes its checks (the tolerances and
their justifications live in experiments/reproduce/NAME.toml), and the command's error handling."""
import json
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
NAMES = sorted(p.stem for p in (ROOT / "experiments" / "reproduce").glob("*.toml"))


def test_there_are_reproductions_for_every_paper():
    papers = set()
    for name in NAMES:
        papers.add(name.split("_", 1)[0])
    assert {"R", "B", "C", "M"} <= papers, papers


@pytest.mark.parametrize("name", NAMES)
def test_quick_reproduction_passes_its_checks(reproduce, tmp_path, name):
    proc = reproduce(name, "--quick", "-o", "out", "--threads", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads((tmp_path / "out" / name / "results.json").read_text())
    assert results["passed"] and results["error"] is None
    assert results["mode"] == "quick"
    assert results["checks"], "a reproduction without checks verifies nothing"
    assert all(row["passed"] for row in results["checks"])
    for fig in results["figures"]:
        assert (tmp_path / "out" / name / fig["file"]).stat().st_size > 0
    # No temporary directory is left behind.
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_list_names_every_manifest(reproduce):
    proc = reproduce("list")
    assert proc.returncode == 0, proc.stderr
    listed = [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]
    assert listed == NAMES


def test_unknown_reproduction_is_one_line_error(reproduce, tmp_path):
    proc = reproduce("no_such_experiment", "-o", "out")
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: reproduce: unknown reproduction 'no_such_experiment'")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_bad_option_is_one_line_error(reproduce):
    proc = reproduce("R_long_context", "--threads", "-3")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: --threads: must be >= 0, got -3"


def _manifest_dir(tmp_path, text):
    exp = tmp_path / "experiments"
    (exp / "reproduce").mkdir(parents=True)
    (exp / "reproduce" / "X_bad.toml").write_text(text)
    return {"ATTNFLOW_EXPERIMENTS": str(exp)}


GOOD_HEAD = """[reproduce]
paper = "R"
title = "t"
source = "s"
module = "r_long_context"
description = "d"
"""


@pytest.mark.parametrize("text, message", [
    (GOOD_HEAD.replace('paper = "R"', 'paper = "Z"'),
     "error: reproduce.X_bad.paper: unknown paper 'Z'; allowed: B, C, M, R"),
    (GOOD_HEAD + "colour = 1\n",
     "error: reproduce.X_bad.colour: unknown key; allowed: configs, description, module, paper, "
     "source, title"),
    (GOOD_HEAD + '[[check]]\nquantity = "q"\nvalue = "v"\nexplanation = "e"\ntolerance = 0.1\n',
     "error: reproduce.X_bad.check[0].tolerance: a tolerance needs a `published` or `expected` "
     "value"),
    (GOOD_HEAD + '[[check]]\nquantity = "q"\nvalue = "v"\nexplanation = "e"\nexpected = 1\n',
     "error: reproduce.X_bad.check[0]: a check needs `tolerance`, `rel_tolerance`, `at_least` or "
     "`at_most`"),
    (GOOD_HEAD + '[[check]]\nquantity = "q"\nvalue = "v"\nexplanation = "e"\nexpected = 1\n'
     'tolerance = -1\n', "error: reproduce.X_bad.check[0].tolerance: must be >= 0"),
    (GOOD_HEAD + '[[check]]\nquantity = "q"\nvalue = "v"\nexplanation = "e"\nat_least = 1\n'
     'modes = ["fast"]\n', "error: reproduce.X_bad.check[0].modes: must be a non-empty list of "
     "quick, full"),
])
def test_malformed_manifest_is_one_line_error(reproduce, tmp_path, text, message):
    proc = reproduce("list", env=_manifest_dir(tmp_path, text))
    assert proc.returncode == 2
    assert proc.stderr.strip() == message


def test_failing_check_exits_4_and_keeps_results(reproduce, tmp_path):
    # A check that the long-context layer cannot meet (the subcritical limit is 1, not 0.9).
    text = GOOD_HEAD + ('[[check]]\nquantity = "q"\nvalue = "similarity_sub"\nexplanation = "e"\n'
                        'expected = 0.9\ntolerance = 1e-3\n')
    env = _manifest_dir(tmp_path, text)
    import shutil
    shutil.copy(ROOT / "experiments" / "R_long_context_phase_transition.toml",
                tmp_path / "experiments")
    proc = reproduce("X_bad", "-o", "out", env=env)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "[FAIL] q" in proc.stdout
    results = json.loads((tmp_path / "out" / "X_bad" / "results.json").read_text())
    assert results["passed"] is False
    assert results["checks"][0]["value"] == pytest.approx(1.0, abs=1e-12)


def test_report_from_results(reproduce, tmp_path):
    env = {"ATTNFLOW_EXPERIMENTS": str(ROOT / "experiments")}
    proc = reproduce("R_long_context", "-o", "out", "--quick", "--report", "doc/validation.md",
                     env=env)
    assert proc.returncode in (0, 4), proc.stderr  # other reproductions are "not run" -> 4
    text = (tmp_path / "doc" / "validation.md").read_text()
    assert "### R_long_context" in text
    assert "(validation/R_long_context/long_context.png)" in text
    assert (tmp_path / "doc" / "validation" / "R_long_context" / "long_context.png").exists()
