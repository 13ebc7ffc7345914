"""The course's one command: `python -m peft_course.grading release|grade|check|course`."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..course import repo_path

USAGE = """\
  python -m peft_course.grading release [NN_topic ...]  # solutions/ -> notebooks/ (make release)
  python -m peft_course.grading grade [--force]         # _grading/submitted/ -> table + feedback
  python -m peft_course.grading check [--execute]       # the checks `make test` runs, on this repo
  python -m peft_course.grading check --blank [--json F]  # autograde the untouched notebooks: 0 each
  python -m peft_course.grading course [NN_topic ...]   # execute the solutions (make course)
  python -m peft_course.grading outputs [NN_topic ...]  # execute, store the checked cells' outputs
  python -m peft_course.grading prose                   # the prose rule: unvouched numbers
  python -m peft_course.grading course --record "quiet machine, 2026-11-22"
      # also write each notebook that ran without error into scripts/notebook_times.json
  python -m peft_course.grading course --record-from benchmarks/results/cpu.json --record "..."
      # record the times of a `benchmarks/run.py --course` run instead of running again

Every command works on --root (default: this repository), so the tests run the same code on a
scratch copy or on the fixture course in tests/fixtures/grading/. The recorded times feed the
notebook titles (scripts/sync_colab.py) and the README table (scripts/readme_table.py). `course`
exits non-zero if a notebook raises. Per-cell timeout: PEFT_COURSE_CELL_TIMEOUT (default 900 s).
"""


def _parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The parser and its `course` subparser (for its error messages)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root", type=Path, help="course folder (default: this repository)")
    parser = argparse.ArgumentParser(
        prog="python -m peft_course.grading",
        epilog=USAGE,
        description="The course's nbgrader pipeline (release, grade, check) and course runs.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    rel = sub.add_parser("release", parents=[common], help="regenerate notebooks/ from solutions/")
    rel.add_argument("names", nargs="*", help="NN_topic names (default: all)")
    grd = sub.add_parser(
        "grade", parents=[common], help="autograde _grading/submitted/, table, feedback"
    )
    grd.add_argument(
        "--force", action="store_true", help="re-execute submissions that were autograded before"
    )
    chk = sub.add_parser(
        "check", parents=[common], help="regeneration, leak and lint checks (--execute: all)"
    )
    chk.add_argument(
        "--execute",
        action="store_true",
        help="also autograde the solutions and the blank notebooks",
    )
    chk.add_argument(
        "--blank",
        action="store_true",
        help="also autograde the blank notebooks (not the solutions: make test runs those "
        "under nbval), several at a time (PEFT_COURSE_BLANK_WORKERS)",
    )
    chk.add_argument("--work", type=Path, help="keep the scratch course here (default: a temp dir)")
    chk.add_argument("--json", type=Path, help="also write the result as JSON to this file")
    crs = sub.add_parser(
        "course",
        parents=[common],
        help="execute every solution notebook: table of time and headline",
    )
    crs.add_argument("names", nargs="*", help="NN_topic names (default: all in solutions/)")
    crs.add_argument(
        "--record",
        metavar="HOW",
        help="write the times into scripts/notebook_times.json, HOW saying where "
        "and when they were measured",
    )
    crs.add_argument(
        "--record-from",
        type=Path,
        metavar="RESULTS_JSON",
        help="record the course times of a benchmarks/run.py --course results file",
    )
    out = sub.add_parser(
        "outputs",
        parents=[common],
        help="execute solutions, store the outputs of nbval-check-output cells",
    )
    out.add_argument("names", nargs="*", help="NN_topic names (default: all)")
    sub.add_parser(
        "prose",
        parents=[common],
        help="numbers in the solutions' markdown that no checked output vouches for",
    )
    return parser, crs


def _prose(root: Path) -> int:
    """`prose`: the prose rule and the checked-output rules, with a count per notebook."""
    from .outputs import output_problems
    from .prose import HOW_TO_FIX, prose_counts, prose_problems

    problems = output_problems(root) + prose_problems(root)
    for name, (total, bad) in prose_counts(root).items():
        print(f"  {name:<26} {total:>4} numbers in the prose, {bad} unvouched")
    for p in problems:
        print(f"FAIL {p}")
    if problems:
        print(f"{len(problems)} problem(s); to fix: {HOW_TO_FIX}")
    else:
        print("prose check passed")
    return 1 if problems else 0


def _course(parser: argparse.ArgumentParser, args: argparse.Namespace, root: Path) -> int:
    """`course`: run the notebooks (or read a benchmark's run) and record the times if asked."""
    from .checks import assignments
    from .execute import record_times, rows_from_results, run_course

    device = None  # where the rows were measured; None: here (asked only when recording)
    blank: dict[str, float] = {}
    if args.record_from:
        if not args.record:
            parser.error("--record-from needs --record HOW (where and when it was measured)")
        rows, device, blank = rows_from_results(args.record_from)
    else:
        unknown = sorted(set(args.names) - set(assignments(root)))
        if unknown:
            parser.error(f"no such notebook in solutions/: {', '.join(unknown)}")
        rows = run_course(root, args.names)
    if args.record:
        if device is None:
            from ..device import get_device

            device = get_device().type
        if device != "cpu":
            blank = {}  # they order CPU workers: a GPU run's would not
        times_file = root / "scripts" / "notebook_times.json"
        done = record_times(rows, args.record, times_file, device, blank)
        print(
            f"recorded {len(done)} notebook times in {times_file}"
            + (f" and {len(blank)} blank notebooks' times" if blank else "")
        )
    return 0 if args.record_from or all(ok for _, _, ok in rows) else 1


def _check(root: Path, args: argparse.Namespace) -> int:
    """`check`: the static checks, or (`--execute`, `--blank`) the self-check; prints every
    problem, and with `--json` writes the result for a caller (make test's notebook lane)."""
    import json

    from ..files import write_text_atomic
    from .checks import leak_problems, lint_problems
    from .course_check import self_check
    from .pipeline import regenerate_problems

    if args.execute or args.blank:
        result = self_check(root, work=args.work, solutions=args.execute)
        problems = result["problems"]
        print(
            f"{result['executed']} notebooks executed, {result['cells_graded']} cells "
            f"graded, solutions full marks {result['solution_full']}/{result['solution_tests']},"
            f" blank zero {result['blank_zero']}/{result['blank_tests']}"
        )
        print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in result["seconds"].items()))
        if args.json:
            keep = ("notebooks", "problems", "workers", "seconds", "blank_zero", "blank_tests")
            out = {k: result[k] for k in keep} | {
                "where": {n: str(p) for n, p in result["where"].items()},
                "times": {f"{s}/{n}": t for (s, n), t in result["times"].items()},
            }
            write_text_atomic(args.json, json.dumps(out, indent=1))
    else:
        problems = regenerate_problems(root) + leak_problems(root) + lint_problems(root)
    for p in problems:
        print(f"FAIL {p}")
    print("all checks passed" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser, course_parser = _parser()
    args = parser.parse_args(argv)
    root = args.root or repo_path()
    if args.command == "course":
        return _course(course_parser, args, root.resolve())
    if args.command == "prose":
        return _prose(root)
    if args.command == "outputs":
        from .execute import cell_timeout
        from .outputs import store_outputs

        report = store_outputs(root, args.names or None, timeout=cell_timeout())
        print("\n".join(report))
        return 1 if any("not stored" in line for line in report) else 0
    from .pipeline import HiddenTestsChecksum, grade, release
    from .results import GRADING

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(HiddenTestsChecksum(root))
    if args.command == "release":
        for name in release(root, args.names or None):
            print(f"released notebooks/{name}/{name}.ipynb")
        return 0
    if args.command == "grade":
        print(grade(root, force=args.force))
        print(
            f"feedback: {GRADING}/feedback/<student>/<NN_topic>/*.html; manual grading: "
            "`nbgrader formgrader` (docs/instructors.md)"
        )
        return 0
    return _check(root, args)


if __name__ == "__main__":
    sys.exit(main())
