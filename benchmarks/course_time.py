"""Section 4: execute every solution notebook headless and time each one.

Uses ``run_notebook`` of peft_course.grading.execute (`make course`), which runs each notebook in
a scratch copy: the solution notebooks in the repository are never written.
"""

from __future__ import annotations

from pathlib import Path

from common import ROOT

from peft_course.grading.checks import assignments
from peft_course.grading.execute import cell_timeout, run_notebook


def solution_notebooks(root: Path = ROOT) -> list[Path]:
    """solutions/NN_topic/NN_topic.ipynb, in course order."""
    return [root / "solutions" / name / f"{name}.ipynb" for name in assignments(root)]


def run_course(progress=print, root: Path = ROOT) -> dict:
    """{"measured", "notebooks": [{"name", "seconds", "ok", "error", "headline"}],
    "total_seconds", "all_ok"}."""
    notebooks = solution_notebooks(root)
    if not notebooks:
        return {"measured": False, "reason": f"no solution notebooks under {root / 'solutions'}"}
    timeout = cell_timeout()
    rows = []
    for i, path in enumerate(notebooks, 1):
        progress(f"  [{i}/{len(notebooks)}] {path.parent.name} ...")
        seconds, headline, error = run_notebook(path, timeout)
        rows.append({"name": path.parent.name, "seconds": seconds, "ok": error is None,
                     "error": error, "headline": headline})
        progress(f"      {seconds:.0f} s {'ok' if error is None else 'FAILED: ' + error}")
    return {
        "measured": True,
        "notebooks": rows,
        "total_seconds": sum(r["seconds"] for r in rows),
        "all_ok": all(r["ok"] for r in rows),
    }
