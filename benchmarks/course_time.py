"""Section 4: execute every solution notebook headless (nbclient) and time each one.

Outputs are discarded: the solution notebooks in the repository are never written.
"""

from __future__ import annotations

import time
from pathlib import Path

from common import ROOT


def solution_notebooks(root: Path = ROOT) -> list[Path]:
    """solutions/NN_topic/NN_topic.ipynb, in course order."""
    return sorted(p for p in (root / "solutions").glob("*/*.ipynb") if p.stem == p.parent.name)


def run_course(timeout: int = 1800, progress=print) -> dict:
    """{"notebooks": [{"name", "seconds", "ok", "error"}], "total_seconds", "all_ok"}."""
    import nbformat
    from nbclient import NotebookClient

    rows = []
    notebooks = solution_notebooks()
    for i, path in enumerate(notebooks, 1):
        progress(f"  [{i}/{len(notebooks)}] {path.parent.name} ...")
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(
            nb, timeout=timeout, kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
        )
        t0 = time.perf_counter()
        error = None
        try:
            client.execute()
        except Exception as err:  # CellExecutionError, timeouts, a dead kernel
            error = f"{type(err).__name__}: {str(err).strip().splitlines()[-1][:300]}"
        seconds = time.perf_counter() - t0
        rows.append({"name": path.parent.name, "seconds": seconds, "ok": error is None,
                     "error": error})
        progress(f"      {seconds:.0f} s {'ok' if error is None else 'FAILED: ' + error}")
    return {
        "measured": bool(rows),
        "notebooks": rows,
        "total_seconds": sum(r["seconds"] for r in rows) if rows else None,
        "all_ok": all(r["ok"] for r in rows) if rows else None,
    }
