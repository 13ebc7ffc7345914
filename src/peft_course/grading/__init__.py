"""The course's nbgrader pipeline and course runs (`python -m peft_course.grading --help`)."""

from __future__ import annotations

import importlib

# Every function takes the course folder (`root`) first, so the tests run the same code on a
# scratch copy or on the fixture course. The names load their module on first use: nbgrader (the
# `course` extra) is imported only by what needs it.
_API = {
    "checks": ["assignments", "leak_problems", "lint_notebook", "lint_problems"],
    "results": [
        "BLANK_STUDENT",
        "GRADING",
        "SOLUTION_STUDENT",
        "CellScore",
        "blank_zero_problems",
        "cell_outputs",
        "execution_problems",
        "full_marks_problems",
        "graded_problems",
        "scores",
    ],
    "pipeline": [
        "autograde",
        "course_config",
        "feedback",
        "grade",
        "regenerate_problems",
        "release",
        "score_table",
        "submit",
    ],
    "course_check": ["BLANK_STEPS_SCALE", "blank_workers", "self_check"],
    "execute": ["record_times", "run_course", "run_notebook"],
    "outputs": ["execute_copy", "output_problems", "store_outputs"],
    "prose": ["CHECKED", "prose_counts", "prose_numbers", "prose_problems"],
}
_MODULE = {name: module for module, names in _API.items() for name in names}
__all__ = sorted(_MODULE)


def __getattr__(name: str):
    if name not in _MODULE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_MODULE[name]}", __name__), name)
