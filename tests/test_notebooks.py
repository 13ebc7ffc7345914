"""The slow checks over the real course notebooks in solutions/ (parametrised over whatever is
there). One execution of each notebook serves several checks: peft_course.grading autogrades a copy
of the solutions and the untouched student notebooks in a scratch course (the blank ones with
scaled-down step counts: grading.BLANK_STEPS_SCALE), then

(a) no cell of the autograded solutions has an error output (every notebook runs top to bottom),
(d) the solutions earn full marks on every autograded test cell,
(e) the blank student notebooks earn 0 on every autograded test cell.

The fast checks (lint, regeneration, leaks) are in test_grading.py; `make nbval` is kept as an
independent way to execute the solutions.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from peft_course import grading

ROOT = Path(__file__).resolve().parents[1]

COURSE = grading.assignments(ROOT)


class _Summary:
    """Registered as a pytest plugin by the fixture: prints the counts after the run."""

    def __init__(self, result: dict, seconds: float):
        self.result, self.seconds = result, seconds

    def pytest_terminal_summary(self, terminalreporter):
        r = self.result
        terminalreporter.section("course notebooks (autograded once)")
        terminalreporter.write_line(
            f"{len(r['notebooks'])} notebooks x 2 submissions = {r['executed']} executed in "
            f"{self.seconds:.0f} s; {r['cells_graded']} autograded test cells; "
            f"solution score = max on {r['solution_full']}/{r['solution_tests']}; "
            f"blank score = 0 on {r['blank_zero']}/{r['blank_tests']}; "
            f"{len(r['problems'])} problem(s)")
        terminalreporter.write_line("execution time per notebook (s): solution / blank")
        for name in r["notebooks"]:
            sol, blank = (r["times"].get((who, name)) for who in (grading.SOLUTION_STUDENT,
                                                                  grading.BLANK_STUDENT))
            fmt = lambda t: "-" if t is None else f"{t:.0f}"  # noqa: E731
            terminalreporter.write_line(f"  {name:<26} {fmt(sol):>6} / {fmt(blank)}")
        terminalreporter.write_line(
            "seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in r["seconds"].items()))


@pytest.fixture(scope="session")
def course_run(request, tmp_path_factory):
    """Release, autograde (solutions + blank), read the gradebook: once per session."""
    start = time.perf_counter()
    result = grading.self_check(ROOT, work=tmp_path_factory.mktemp("course"))
    request.config.pluginmanager.register(_Summary(result, time.perf_counter() - start))
    return result["work"]


@pytest.mark.slow
@pytest.mark.parametrize("name", COURSE)
def test_solution_runs_top_to_bottom(course_run, name):
    assert grading.execution_problems(course_run, name, grading.SOLUTION_STUDENT) == []


@pytest.mark.slow
@pytest.mark.parametrize("name", COURSE)
def test_solution_earns_full_marks(course_run, name):
    assert grading.full_marks_problems(course_run, name) == []


@pytest.mark.slow
@pytest.mark.parametrize("name", COURSE)
def test_blank_notebook_earns_zero(course_run, name):
    assert grading.blank_zero_problems(course_run, name) == []
