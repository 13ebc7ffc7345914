"""Every check on a course folder without touching it: `self_check` (what `make test` runs)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
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


def self_check(
    root: Path,
    timeout: int | None = None,
    work: Path | None = None,
    extra: dict[str, Path] | None = None,
    solutions: bool = True,
) -> dict:
    """The whole pipeline on a course folder, without touching it: release into a scratch copy
    (`work`), compare with `root/notebooks`, autograde the solutions and the untouched
    `root/notebooks` (plus `extra` {student: folder} submissions), each notebook executed
    once (the blank ones with BLANK_STEPS_SCALE), then every check. Returns counts, problems
    and `work`.

    `solutions=False` leaves the solutions out: `make test` executes them with nbval instead
    (their hidden tests and checked outputs fail it), so no notebook is executed twice."""
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
        problems += graded_problems(work, names, solutions=solutions)
        tests = {k: [c for c in v if c.autograded_test] for k, v in scores(work).items()}
        sol = [c for (s, _), cs in tests.items() if s == SOLUTION_STUDENT for c in cs]
        blank = [c for (s, _), cs in tests.items() if s == BLANK_STUDENT for c in cs]
        lap("gradebook checks")
        return {
            "notebooks": names,
            "problems": problems,
            "work": work,
            "seconds": seconds,
            "executed": sum(1 for _ in Path(work, GRADING, "autograded").glob("*/*/*.ipynb")),
            "cells_graded": sum(len(v) for v in tests.values()),
            "solution_full": sum(c.score == c.max_score for c in sol),
            "solution_tests": len(sol),
            "blank_zero": sum(c.score == 0 for c in blank),
            "blank_tests": len(blank),
            "times": {
                (student, n): execution_seconds(work, student, n)
                for student in executed
                for n in names
            },
        }
    finally:
        if scratch:
            scratch.cleanup()
