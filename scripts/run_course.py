"""Execute every solution notebook headless (nbclient, in a scratch copy) and print a table of
notebook, wall time and the headline line each prints ("Headline: ..."), plus the total.

    python scripts/run_course.py                     # every notebook in solutions/ (make course)
    python scripts/run_course.py 01_peft_taxonomy    # only these

Exits non-zero if any notebook raises. Per-cell timeout: PEFT_COURSE_CELL_TIMEOUT (default 900 s).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

ROOT = Path(__file__).resolve().parents[1]


def headlines(nb) -> list[str]:
    """The "Headline: ..." lines of a notebook's stdout outputs."""
    return [line.removeprefix("Headline:").strip()
            for cell in nb.cells if cell.cell_type == "code"
            for out in cell.get("outputs", []) if out.get("name") == "stdout"
            for line in out.get("text", "").splitlines() if line.startswith("Headline:")]


def run_notebook(path: Path, timeout: int) -> tuple[float, str, str | None]:
    """Execute `path` in a temporary folder; (seconds, headline, error or None)."""
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    error = None
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(path.parent, tmp, dirs_exist_ok=True)  # files next to the notebook
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": tmp}})
        try:
            client.execute()
        except CellExecutionError as exc:
            error = f"{exc.ename}: {exc.evalue}"[:120]
        except (CellTimeoutError, DeadKernelError) as exc:
            error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:100]}"
    return time.perf_counter() - start, "; ".join(headlines(nb)) or "-", error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="NN_topic names (default: all in solutions/)")
    parser.add_argument("--root", type=Path, default=ROOT, help="course folder (default: repo)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    available = sorted(p.parent.name for p in root.glob("solutions/*/*.ipynb")
                       if p.stem == p.parent.name)
    names = args.names or available
    unknown = sorted(set(names) - set(available))
    if unknown:
        parser.error(f"no such notebook in solutions/: {', '.join(unknown)}")
    timeout = int(os.environ.get("PEFT_COURSE_CELL_TIMEOUT", "900"))
    rows, failed, total = [], 0, 0.0
    for name in names:
        print(f"running {name} ...", flush=True)
        seconds, headline, error = run_notebook(root / "solutions" / name / f"{name}.ipynb",
                                                timeout)
        total += seconds
        failed += error is not None
        rows.append((name, f"{seconds:.0f} s", f"ERROR {error}" if error else headline))
    rows.append(("total", f"{total:.0f} s", f"{len(names) - failed}/{len(names)} ran"))
    widths = [max(len(r[i]) for r in [("notebook", "time", "headline"), *rows]) for i in range(2)]
    print()
    for r in [("notebook", "time", "headline"), *rows]:
        print(f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
