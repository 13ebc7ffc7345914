"""Execute one notebook statement by statement in IPython, and sort its errors (gpu_smoke's child).

Why this executor and not nbclient: the smoke must go on after a tolerated failure, both to the
rest of the cell and to the later cells, and the GPU machine has no Jupyter stack (nbclient,
ipykernel, jupyter_client, pyzmq, tornado, debugpy would not fit its 64 MiB with the rest).
IPython's ``InteractiveShell`` alone is a few pure-Python wheels and runs the cells as Jupyter
does: the same namespace, magics transformed, ``display()`` and the last expression shown. Each
top-level statement of a cell runs as its own ``run_cell``, so an ``assert`` that fails stops only
itself. Cell ids and line numbers in tracebacks are those of the notebook's cell.

What is tolerated (and still reported): an AssertionError raised in the notebook's own code (its
asserts are about learned quality and the real model's counts, which a random tiny model cannot
meet); a NameError for a name that an earlier failed statement would have bound; a hot-swap
refused only for adapter keys of layers the tiny model lacks. Everything else fails the notebook:
device and dtype errors, imports, missing files, library assertions, NameErrors of typos.
"""

from __future__ import annotations

import ast
import json
import os
import re
import sys
import time
import traceback
from pathlib import Path

CELL_FILES = ("<ipython-input-",)  # how IPython names the code it compiles from a cell


def bound_names(node: ast.AST) -> set[str]:
    """Names a top-level statement binds: assignment targets, defs, classes, imports."""
    names: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
            names.add(sub.id)
        elif isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(sub.name)
        elif isinstance(sub, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in sub.names)
    return names


def classify(err: BaseException, unbound: set[str], layers: int | None) -> str | None:
    """Why ``err`` is tolerated ('assertion', 'consequence', 'tiny-model'), or None: a failure."""
    frames = traceback.extract_tb(err.__traceback__)
    if isinstance(err, AssertionError) and frames and frames[-1].filename.startswith(CELL_FILES):
        return "assertion"
    if isinstance(err, NameError) and getattr(err, "name", None) in unbound:
        return "consequence"
    text = str(err)
    if layers is not None and isinstance(err, RuntimeError) and "unexpected keys" in text:
        found = {int(n) for n in re.findall(r"\blayers\.(\d+)\.", text)}
        if found and min(found) >= layers:
            return "tiny-model"
    return None


def hide_packages(names) -> None:
    """Make packages look absent in this process, as on the GPU machine: a None entry in
    sys.modules makes ``import`` raise ModuleNotFoundError and ``find_spec`` return None."""
    for name in filter(None, names):
        sys.modules[name] = None


def _statements(code: str):
    """(first line, source padded to keep the cell's line numbers, node) per top-level statement."""
    lines = code.splitlines(keepends=True)
    for node in ast.parse(code).body:
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        # '#' lines, not blank ones: IPython strips leading blank lines, which would shift them
        yield first, "#\n" * (first - 1) + "".join(lines[first - 1:node.end_lineno]), node


def run_notebook(path: Path, layers: int | None = None) -> dict:
    """Run every code cell of ``path`` in a fresh namespace, in the notebook's folder."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance(colors="nocolor")
    shell.reset(new_session=False)
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    wanted = tuple(filter(None, os.environ.get("PEFT_SMOKE_CELLS", "").split(",")))
    if wanted:  # only the cells whose id starts with one of these (a section and what it needs)
        cells = [c for c in cells if c.get("id", "").startswith(wanted)]
    report = {"notebook": path.stem, "cells": len(cells), "statements": 0, "tolerated": [],
              "errors": []}
    unbound: set[str] = set()  # names that failed statements would have bound
    timings: list[tuple[float, str]] = []
    start, cwd = time.time(), os.getcwd()
    os.chdir(path.parent)
    try:
        for index, cell in enumerate(cells):
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            cell_id = cell.get("id") or f"cell {index + 1}"
            try:
                parts = list(_statements(shell.transform_cell(source)))
            except SyntaxError as err:
                report["errors"].append(_entry(cell_id, err.lineno or 0, err, None))
                continue
            for n, (line, code, node) in enumerate(parts):
                report["statements"] += 1
                shell.ast_node_interactivity = "last_expr" if n == len(parts) - 1 else "none"
                print(f"--- [{cell_id} line {line}]", flush=True)
                began = time.time()
                result = shell.run_cell(code, store_history=False)
                timings.append((round(time.time() - began, 1), f"{cell_id} line {line}"))
                err = result.error_before_exec or result.error_in_exec
                if err is None:
                    unbound -= bound_names(node)
                    continue
                kind = classify(err, unbound, layers)
                unbound |= bound_names(node)
                target = report["tolerated"] if kind else report["errors"]
                target.append(_entry(cell_id, line, err, kind))
    finally:
        os.chdir(cwd)
        sys.stdout.flush()
    report["seconds"] = round(time.time() - start)
    report["slowest"] = [f"{where} {sec:g} s" for sec, where in sorted(timings, reverse=True)[:3]]
    return report


def _entry(cell_id: str, line: int, err: BaseException, kind: str | None) -> dict:
    frames = traceback.extract_tb(err.__traceback__)
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    message = f"{type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}"
    return {"cell": cell_id, "line": line, "kind": kind, "error": message, "raised_at": where,
            "traceback": "".join(traceback.format_exception(err))[-6000:]}


def main(argv: list[str]) -> int:
    """``gpu_smoke_exec.py NOTEBOOK REPORT.json [LAYERS]``: the report is written even on errors."""
    notebook, out = Path(argv[0]).resolve(), Path(argv[1])
    hide_packages(os.environ.get("PEFT_SMOKE_HIDE", "").split(","))
    layers = int(argv[2]) if len(argv) > 2 else None
    report = run_notebook(notebook, layers)
    out.write_text(json.dumps(report, indent=1))
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
