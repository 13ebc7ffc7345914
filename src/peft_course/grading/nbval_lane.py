"""The notebook lane's pytest plugin (`pytest -p peft_course.grading.nbval_lane`): nbval's cells
count as slow tests, and the run ends with one line per executed notebook (seconds, output-checked
cells, autograded tests), so the CI log shows where the time goes and what nbval compared.

    pytest -m slow -p peft_course.grading.nbval_lane --nbval-lax --nbval-current-env tests solutions

`--notebook-times FILE` also writes the seconds in the format of a `benchmarks/run.py --course`
results file, so `python -m peft_course.grading course --record-from FILE --record "..."` can put
them into the README table; with the blank notebooks' seconds when the same session autograded
them (tests/test_notebooks.py fills `BLANK_SECONDS`), which order the next run's blank workers.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import nbformat
import pytest

from .outputs import is_autograded_test, is_checked

_SECONDS: dict[str, float] = defaultdict(float)  # notebook path -> setup + call + teardown time
_FAILED: dict[str, int] = defaultdict(int)
# blank notebook name -> seconds, when this session autograded them (tests/test_notebooks.py)
BLANK_SECONDS: dict[str, float] = {}


def pytest_addoption(parser):
    parser.addoption(
        "--notebook-times",
        metavar="FILE",
        default=None,
        help="write each solution notebook's nbval seconds to FILE (JSON)",
    )


def _notebook(nodeid: str) -> str | None:
    path = nodeid.split("::", 1)[0]
    return path if path.endswith(".ipynb") else None


def notebook_counts(path: Path) -> tuple[int, int]:
    """(cells whose stored output nbval compares, autograded test cells) of one notebook."""
    cells = [c for c in nbformat.read(path, as_version=4).cells if is_checked(c)]
    tests = sum(is_autograded_test(c) for c in cells)
    return len(cells) - tests, tests


def pytest_ignore_collect(collection_path, config):
    """nbval executes the course's solution notebooks only: the fixture course's blank and broken
    notebooks under tests/ are data for the grading tests, not notebooks to run."""
    parts = collection_path.parts
    if collection_path.suffix == ".ipynb" and ("solutions" not in parts or "tests" in parts):
        return True
    return None


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items):
    for item in items:
        if _notebook(item.nodeid):
            item.add_marker(pytest.mark.slow)


def pytest_runtest_logreport(report):
    path = _notebook(report.nodeid)
    if path:
        _SECONDS[path] += report.duration  # the kernel starts in the first cell's setup
        _FAILED[path] += report.failed


def pytest_terminal_summary(terminalreporter, config):
    if not _SECONDS:
        return
    terminalreporter.section("solution notebooks executed by nbval")
    total = 0.0
    for path, seconds in _SECONDS.items():
        checked, tests = notebook_counts(Path(config.rootpath, path))
        total += seconds
        status = "ok" if not _FAILED[path] else f"{_FAILED[path]} cell(s) FAILED"
        terminalreporter.write_line(
            f"  {Path(path).stem:<26} {seconds:6.0f} s  {checked:3d} output-checked cells, "
            f"{tests} autograded tests  {status}"
        )
    terminalreporter.write_line(f"  {len(_SECONDS)} notebooks in {total:.0f} s")
    out = config.getoption("--notebook-times")
    if out:
        _write_times(Path(out))
        terminalreporter.write_line(f"  times written to {out}")


def _write_times(path: Path) -> None:
    import torch

    from ..device import get_device
    from ..files import write_text_atomic

    rows = [
        {"name": Path(p).stem, "seconds": round(s, 1), "ok": not _FAILED[p]}
        for p, s in _SECONDS.items()
    ]
    machine = {
        "device": get_device().type,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(
        path,
        json.dumps(
            {
                "machine": machine,
                "course": {"measured": True, "how": "nbval in make test", "notebooks": rows},
                **({"blank": dict(BLANK_SECONDS)} if BLANK_SECONDS else {}),
            },
            indent=2,
        )
        + "\n",
    )
