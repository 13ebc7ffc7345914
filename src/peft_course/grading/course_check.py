"""Every check on a course folder without touching it: `self_check` (what `make test` runs)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .checks import assignments, leak_problems, lint_problems
from .pipeline import autograde, regenerate_problems, release, submit
from .results import (
    BLANK_STUDENT,
    GRADING,
    SOLUTION_STUDENT,
    execution_seconds,
    graded_problems,
    scores,
)

# The blank notebooks only have to score 0 on every graded test, and graded tests check the
# learner's own answers, so their non-exercise training cells run with scaled-down step counts
# (peft_course.device.steps_for_device honours PEFT_COURSE_STEPS_SCALE). The solutions run in full.
BLANK_STEPS_SCALE = os.environ.get("PEFT_COURSE_BLANK_STEPS_SCALE", "0.1")
# the environment of a process that runs beside others on a few cores: one BLAS/OpenMP thread
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def blank_workers() -> int:
    """How many blank notebooks are autograded side by side, each kernel on one torch thread: one
    per CPU core, at most 4 (``PEFT_COURSE_BLANK_WORKERS`` overrides; 1 is the sequential run).

    A dry run is mostly fixed costs (imports, model loads, a few generated tokens) that a second
    thread barely speeds up, so two one-thread kernels on two cores finish the set sooner than one
    two-thread kernel at a time. The solutions never run this way: their times are published."""
    value = os.environ.get("PEFT_COURSE_BLANK_WORKERS")
    return max(1, int(value) if value else min(4, os.cpu_count() or 1))


@contextlib.contextmanager
def _environ(**values: str):
    """Set environment variables for the kernels started inside the block, then restore them."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _longest_first(root: Path, names: list[str]) -> list[str]:
    """`names` by their recorded blank run time (scripts/notebook_times.json: "blank_seconds",
    else the solution's "seconds"), longest first, so the last notebook to start is a short one.
    A blank notebook's time is not its solution's: 07's solution is among the longest, its blank
    notebook among the short ones."""
    try:
        times = json.loads((root / "scripts" / "notebook_times.json").read_text())
    except (OSError, ValueError):
        times = {}

    def recorded(name: str) -> float:
        entry = times.get(name, {})
        return -float(entry.get("blank_seconds", entry.get("seconds", 0)))

    return sorted(names, key=recorded)


def _autograde_alone(root: Path, part: Path, name: str, timeout: int | None) -> None:
    """One blank notebook in a scratch course of its own (its own gradebook, so parallel runs
    never share a database): release, submit, autograde. Runs in a worker process started by
    `_autograde_blank_in_parallel`, which sets its environment (step scale, one thread)."""
    shutil.copytree(root / "solutions" / name, part / "solutions" / name)
    release(part)
    submit(part, BLANK_STUDENT, root / "notebooks", [name])
    autograde(part, student=BLANK_STUDENT, timeout=timeout)


def _autograde_blank_in_parallel(root: Path, work: Path, names: list[str], timeout, workers):
    """{name: its scratch course}, every blank notebook autograded there, `workers` at a time,
    each in a fresh `python -m peft_course.grading.course_check` process."""
    parts = {name: work / "blank" / name for name in names}
    env = os.environ | ONE_THREAD | {"PEFT_COURSE_STEPS_SCALE": BLANK_STEPS_SCALE}

    def one(name: str) -> None:
        cmd = [
            sys.executable,
            "-m",
            __name__,
            str(root),
            str(parts[name]),
            name,
            str(timeout or ""),
        ]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"autograding the blank {name} failed:\n{proc.stderr[-3000:]}")

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, _longest_first(root, names)))  # re-raises a worker's failure
    return parts


def self_check(
    root: Path,
    timeout: int | None = None,
    work: Path | None = None,
    extra: dict[str, Path] | None = None,
    solutions: bool = True,
    workers: int | None = None,
) -> dict:
    """The whole pipeline on a course folder, without touching it: release into a scratch copy
    (`work`), compare with `root/notebooks`, autograde the solutions and the untouched
    `root/notebooks` (plus `extra` {student: folder} submissions), each notebook executed
    once (the blank ones with BLANK_STEPS_SCALE), then every check. Returns counts, problems
    and `work`.

    `solutions=False` leaves the solutions out: `make test` executes them with nbval instead
    (their hidden tests and checked outputs fail it), so no notebook is executed twice. Then
    (and without `extra`) the blank notebooks are autograded `workers` at a time (default
    `blank_workers()`), each in its own scratch course under `work/blank/`; `where` maps each
    notebook to the course that graded it."""
    root = Path(root).resolve()
    scratch = tempfile.TemporaryDirectory() if work is None else None
    work = Path(scratch.name if scratch else work)
    seconds, clock = {}, time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        seconds[stage], clock = time.perf_counter() - clock, time.perf_counter()

    try:
        names = assignments(root)
        executed = [SOLUTION_STUDENT, BLANK_STUDENT] if solutions else [BLANK_STUDENT]
        problems = regenerate_problems(root) + leak_problems(root) + lint_problems(root)
        lap("static checks")
        workers = blank_workers() if workers is None else workers
        parallel = not solutions and not extra and workers > 1
        if parallel:
            where = _autograde_blank_in_parallel(root, work, names, timeout, workers)
            lap("autograde")
        else:
            where = dict.fromkeys(names, work)
            shutil.copytree(root / "solutions", work / "solutions", dirs_exist_ok=True)
            release(work)  # registers the assignments in the scratch gradebook
            if solutions:
                submit(work, SOLUTION_STUDENT, root / "solutions", names)
            submit(work, BLANK_STUDENT, root / "notebooks", names)
            for student, folder in (extra or {}).items():
                submit(work, student, folder)
            lap("release")
            if solutions:
                autograde(work, student=SOLUTION_STUDENT, timeout=timeout)
            with _environ(PEFT_COURSE_STEPS_SCALE=BLANK_STEPS_SCALE):
                autograde(work, student=BLANK_STUDENT, timeout=timeout)
            for student in extra or {}:
                autograde(work, student=student, timeout=timeout)
            lap("autograde")
        courses = list(dict.fromkeys(where.values()))  # one, or one per blank notebook
        for course in courses:
            problems += graded_problems(
                course, [n for n in names if where[n] == course], solutions=solutions
            )
        graded = {k: v for course in courses for k, v in scores(course).items()}
        tests = {k: [c for c in v if c.autograded_test] for k, v in graded.items()}
        sol = [c for (s, _), cs in tests.items() if s == SOLUTION_STUDENT for c in cs]
        blank = [c for (s, _), cs in tests.items() if s == BLANK_STUDENT for c in cs]
        lap("gradebook checks")
        return {
            "notebooks": names,
            "problems": problems,
            "work": work,
            "where": where,
            "workers": workers if parallel else 1,
            "seconds": seconds,
            "executed": sum(
                1 for c in courses for _ in Path(c, GRADING, "autograded").glob("*/*/*.ipynb")
            ),
            "cells_graded": sum(len(v) for v in tests.values()),
            "solution_full": sum(c.score == c.max_score for c in sol),
            "solution_tests": len(sol),
            "blank_zero": sum(c.score == 0 for c in blank),
            "blank_tests": len(blank),
            "times": {
                (student, n): execution_seconds(where[n], student, n)
                for student in executed
                for n in names
            },
        }
    finally:
        if scratch:
            scratch.cleanup()


if __name__ == "__main__":  # one blank notebook: a worker of _autograde_blank_in_parallel
    _root, _part, _name, _timeout = sys.argv[1:5]
    _autograde_alone(Path(_root), Path(_part), _name, int(_timeout) if _timeout else None)
