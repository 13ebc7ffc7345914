"""Execute solution notebooks headless (`make course`) and record their run times."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

from ..files import write_text_atomic
from .checks import assignments


def cell_timeout() -> int:
    """Seconds a cell may run: PEFT_COURSE_CELL_TIMEOUT, default 900 (as in nbgrader_config.py)."""
    return int(os.environ.get("PEFT_COURSE_CELL_TIMEOUT", "900"))


def headlines(nb) -> list[str]:
    """The "Headline: ..." lines of a notebook's stdout outputs."""
    return [
        line.removeprefix("Headline:").strip()
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("name") == "stdout"
        for line in out.get("text", "").splitlines()
        if line.startswith("Headline:")
    ]


def run_notebook(path: Path, timeout: int) -> tuple[float, str, str | None]:
    """Execute `path` in a temporary folder; (seconds, headline, error or None)."""
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    error = None
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(path.parent, tmp, dirs_exist_ok=True)  # files next to the notebook
        client = NotebookClient(
            nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": tmp}}
        )
        try:
            client.execute()
        except CellExecutionError as exc:
            error = f"{exc.ename}: {exc.evalue}"[:120]
        except (CellTimeoutError, DeadKernelError) as exc:
            error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:100]}"
    return time.perf_counter() - start, "; ".join(headlines(nb)) or "-", error


def record_times(
    rows: list[tuple[str, float, bool]],
    how: str,
    times_file: Path,
    device: str = "cpu",
    blank: dict[str, float] | None = None,
) -> list[str]:
    """Merge (name, seconds, ok) rows into `times_file`; a failed run is never recorded. On a
    CPU the figure goes to "cpu" (with "seconds" and "how"), on a GPU to "gpu". `blank`: the
    blank notebooks' seconds in the same run ("blank_seconds", which orders the blank workers of
    `check --blank`, longest first). Returns the names recorded."""
    times = json.loads(times_file.read_text()) if times_file.is_file() else {}
    for name, seconds in (blank or {}).items():
        if name in times:
            times[name]["blank_seconds"] = round(seconds)
    recorded = []
    for name, seconds, ok in rows:
        if not ok:
            continue
        minutes = seconds / 60
        figure = f"{minutes:.1f} min" if minutes >= 1 else f"{seconds:.0f} s"
        entry = times.setdefault(name, {"cpu": "not measured", "gpu": "not measured"})
        if device == "cpu":
            entry.update(cpu=figure, seconds=round(seconds), how=how)
        else:
            entry["gpu"] = f"{figure} ({how})"
        recorded.append(name)
    write_text_atomic(times_file, json.dumps(dict(sorted(times.items())), indent=2) + "\n")
    return recorded


def rows_from_results(
    results_file: Path,
) -> tuple[list[tuple[str, float, bool]], str, dict[str, float]]:
    """(name, seconds, ok) rows of the course section of a benchmarks/run.py --course results
    file (or of make test's --notebook-times file), the device it ran on, and the blank
    notebooks' seconds where the file has them."""
    try:
        results = json.loads(results_file.read_text())
        course = results.get("course", {})
    except (OSError, json.JSONDecodeError) as exc:
        raise SystemExit(f"cannot read {results_file}: {exc}") from None
    if not course.get("measured"):
        raise SystemExit(
            f"{results_file} has no measured course run: run "
            "`python benchmarks/run.py --course` first"
        )
    rows = [(r["name"], r["seconds"], r["ok"]) for r in course["notebooks"]]
    return rows, results.get("machine", {}).get("device", "cpu"), results.get("blank", {})


def run_course(root: Path, names: list[str] | None = None) -> list[tuple[str, float, bool]]:
    """Execute the solution notebooks `names` (default: all) of `root` one after the other and
    print a table of notebook, time and headline, plus the total. Returns (name, seconds, ok)."""
    names = names or assignments(root)
    timeout = cell_timeout()
    rows, measured = [], []  # table rows; (name, seconds, ok) for the totals and --record
    for name in names:
        print(f"running {name} ...", flush=True)
        seconds, headline, error = run_notebook(
            root / "solutions" / name / f"{name}.ipynb", timeout
        )
        measured.append((name, seconds, error is None))
        rows.append((name, f"{seconds:.0f} s", f"ERROR {error}" if error else headline))
    total, ran = sum(m[1] for m in measured), sum(m[2] for m in measured)
    rows.append(("total", f"{total:.0f} s", f"{ran}/{len(names)} ran"))
    widths = [max(len(r[i]) for r in [("notebook", "time", "headline"), *rows]) for i in range(2)]
    print()
    for r in [("notebook", "time", "headline"), *rows]:
        print(f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]}")
    return measured
