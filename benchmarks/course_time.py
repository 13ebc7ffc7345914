"""Section 4: execute every solution notebook headless and time each one.

Uses ``run_notebook`` of scripts/run_course.py (`make course`), which runs each notebook in a
scratch copy: the solution notebooks in the repository are never written.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from common import ROOT


def solution_notebooks(root: Path = ROOT) -> list[Path]:
    """solutions/NN_topic/NN_topic.ipynb, in course order."""
    return sorted(p for p in (root / "solutions").glob("*/*.ipynb") if p.stem == p.parent.name)


def _run_notebook():
    path = ROOT / "scripts" / "run_course.py"
    spec = importlib.util.spec_from_file_location("run_course", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.run_notebook  # (path, timeout) -> (seconds, headline, error or None)


def run_course(progress=print, root: Path = ROOT) -> dict:
    """{"measured", "notebooks": [{"name", "seconds", "ok", "error", "headline"}],
    "total_seconds", "all_ok"}."""
    notebooks = solution_notebooks(root)
    if not notebooks:
        return {"measured": False, "reason": f"no solution notebooks under {root / 'solutions'}"}
    run_notebook = _run_notebook()
    timeout = int(os.environ.get("PEFT_COURSE_CELL_TIMEOUT", "900"))  # per cell
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
