"""The slow check over the real course's blank student notebooks (parametrised over whatever is
in solutions/): peft_course.grading autogrades the untouched notebooks/ in a scratch course, with
scaled-down step counts (grading.BLANK_STEPS_SCALE), and

(e) the blank student notebooks earn 0 on every autograded test cell.

The solutions are executed once, by nbval in the same pytest run (`make test` passes
`--nbval-lax ... solutions`): a cell that raises, a hidden test that fails or writes to stderr, and
a checked output that differs from the committed one each fail it, so nbval is checks (a) and (d).
The fast checks (lint, regeneration, leaks, prose, stored outputs) are in test_grading.py and
`python -m peft_course.grading prose`.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from peft_course import grading
from peft_course.grading import nbval_lane

ROOT = Path(__file__).resolve().parents[1]

COURSE = grading.assignments(ROOT)


class _Summary:
    """Registered as a pytest plugin by the fixture: prints the counts after the run."""

    def __init__(self, result: dict, waited: float):
        self.result, self.waited = result, waited

    def pytest_terminal_summary(self, terminalreporter):
        r = self.result
        terminalreporter.section("blank student notebooks (autograded once)")
        terminalreporter.write_line(
            f"{len(r['notebooks'])} blank notebooks executed in {sum(r['seconds'].values()):.0f} s"
            f" (step scale {grading.BLANK_STEPS_SCALE}, {r['workers']} at a time"
            f"{', one thread each' if r['workers'] > 1 else ''}; in the background beside the "
            f"other slow tests, then waited for {self.waited:.0f} s); blank score = 0 on "
            f"{r['blank_zero']}/{r['blank_tests']} autograded test cells; "
            f"{len(r['problems'])} problem(s)"
        )
        for name in r["notebooks"]:
            t = r["times"].get(f"{grading.BLANK_STUDENT}/{name}")
            terminalreporter.write_line(f"  {name:<26} {'-' if t is None else f'{t:.0f}':>6} s")
        terminalreporter.write_line(
            "seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in r["seconds"].items())
        )


@pytest.fixture(scope="session")
def course_run(request):
    """The blank notebooks' autograde, started in the background by conftest.py at the start of
    the session (`python -m peft_course.grading check --blank`): wait for it, once."""
    start = time.perf_counter()
    result = request.getfixturevalue("blank_autograde")
    request.config.pluginmanager.register(_Summary(result, time.perf_counter() - start))
    for name in result["notebooks"]:  # into --notebook-times: they order the next run's workers
        seconds = result["times"].get(f"{grading.BLANK_STUDENT}/{name}")
        if seconds is not None:
            nbval_lane.BLANK_SECONDS[name] = round(seconds, 1)
    return {name: Path(folder) for name, folder in result["where"].items()}


@pytest.mark.slow
@pytest.mark.parametrize("name", COURSE)
def test_blank_notebook_earns_zero(course_run, name):
    assert grading.blank_zero_problems(course_run[name], name) == []
