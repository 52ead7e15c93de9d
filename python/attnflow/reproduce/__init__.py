"""``attnflow reproduce``: one command per published experiment, and the validation report.

    attnflow reproduce list                       # what can be reproduced
    attnflow reproduce NAME [-o DIR] [--quick]    # one reproduction -> DIR/NAME/
    attnflow reproduce all [-o DIR] [--quick] [--report docs/validation.md]
    attnflow reproduce report [-o DIR] --report docs/validation.md   # from DIR/*/results.json

Exit status: 0 when every check passes, 4 when a check fails or a reproduction cannot compute its
numbers, 2 on bad input (``error: <key>: ...``).
"""
from __future__ import annotations

import argparse
import pathlib
import sys

from .framework import InputError, manifests, run_reproduction

EXIT_CHECK_FAILED = 4


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit status 2 (the project's bad-input convention)
        raise InputError("reproduce", message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="attnflow reproduce",
                description="Regenerate the papers' experiments: figures (PNG), numbers (CSV/JSON) "
                            "and the checks of experiments/reproduce/NAME.toml.")
    p.add_argument("what", nargs="+", metavar="list|all|report|NAME",
                   help="`list`, `all`, `report`, or one or more reproduction names")
    p.add_argument("-o", "--out", default="out/reproduce", help="output directory (default %(default)s)")
    p.add_argument("--quick", action="store_true", help="the reduced versions the test suite runs")
    p.add_argument("--threads", type=int, default=0, help="threads per engine run (0 = all cores)")
    p.add_argument("--report", metavar="FILE.md",
                   help="also write the validation report (figures copied next to it)")
    return p


def _print_list(all_manifests: dict) -> None:
    width = max((len(n) for n in all_manifests), default=4)
    for name, m in all_manifests.items():
        print(f"{name:<{width}}  [{m.paper}] {m.title} ({m.source})")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        return _main(argv)
    except InputError as e:
        print(f"error: {e.key}: {e.message}", file=sys.stderr)
        return 2


def _main(argv) -> int:
    args = _parser().parse_args(argv)
    if args.threads < 0:
        raise InputError("--threads", f"must be >= 0, got {args.threads}")
    all_manifests = manifests()
    out = pathlib.Path(args.out)
    if args.what == ["list"]:
        _print_list(all_manifests)
        return 0
    if args.what == ["report"]:
        if not args.report:
            raise InputError("--report", "`reproduce report` needs --report FILE.md")
        from .report import write_report
        return 0 if write_report(all_manifests, out, pathlib.Path(args.report)) else EXIT_CHECK_FAILED
    names = list(all_manifests) if args.what == ["all"] else args.what
    for name in names:
        if name not in all_manifests:
            raise InputError("reproduce", f"unknown reproduction {name!r}; run `attnflow reproduce "
                                          f"list` (available: {', '.join(all_manifests)})")
    threads = args.threads
    if threads == 0:
        import os
        threads = len(os.sched_getaffinity(0))
    ok = True
    for name in names:
        print(f"reproduce {name} ({'quick' if args.quick else 'full'}) ...", flush=True)
        results = run_reproduction(all_manifests[name], out, args.quick, threads)
        ok &= results["passed"]
        _print_results(results)
    if args.report:
        from .report import write_report
        ok &= write_report(all_manifests, out, pathlib.Path(args.report))
    return 0 if ok else EXIT_CHECK_FAILED


def _print_results(results: dict) -> None:
    status = "ok" if results["passed"] else "FAILED"
    print(f"  {status} in {results['elapsed_s']:.1f} s -> {results['name']}/")
    if results["error"]:
        print(f"  error: {results['error']}")
    for row in results["checks"]:
        mark = "pass" if row["passed"] else "FAIL"
        value = "—" if row["value"] is None else f"{row['value']:.6g}"
        ref = "" if row["reference"] is None else f" vs {row['reference_kind']} {row['reference']:.6g}"
        print(f"  [{mark}] {row['quantity']}: {value}{ref} ({row['tolerance']})"
              + (f" — {row['failure']}" if "failure" in row else ""))
