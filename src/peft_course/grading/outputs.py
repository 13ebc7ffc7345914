"""Checked outputs: the cells of `solutions/` whose committed output nbval compares on every run.

A cell tagged `nbval-check-output` prints the same thing on every device and run (counts, shapes,
config fields, a formula's value), so its output is committed with the solution notebook and
`make test` compares it with a fresh execution (`pytest --nbval-lax`). Every autograded test
cell carries the tag with no output and an execution count (nbval compares only cells that carry
one): a failed assert, and also a warning on stderr (which would score the cell 0 in nbgrader),
fails nbval. No other cell keeps an output; the student notebooks are released without any. `python -m peft_course.grading outputs` executes the solutions and
stores the outputs of the tagged cells.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from ..files import write_text_atomic
from .checks import assignments
from .prose import CHECKED, output_text


def is_checked(cell) -> bool:
    return cell.cell_type == "code" and CHECKED in cell.metadata.get("tags", [])


def is_autograded_test(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def notebook_output_problems(path: Path) -> list[str]:
    """Outputs only on checked cells, each a clean one; every autograded test cell checked."""
    problems = []
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        where = f"{path.stem} cell '{cell.get('id')}'"
        if is_autograded_test(cell) and not is_checked(cell):
            problems.append(f"{where} is an autograded test without the {CHECKED} tag")
        if is_checked(cell) and is_autograded_test(cell) and cell.outputs:
            problems.append(
                f"{where} is an autograded test with a stored output (tests print nothing)"
            )
        if (cell.outputs or cell.execution_count is not None) and not is_checked(cell):
            problems.append(
                f"{where} has an output or execution count but no {CHECKED} tag: "
                "only checked cells keep outputs (python -m peft_course.grading "
                "outputs)"
            )
        if is_checked(cell) and cell.execution_count is None:
            problems.append(
                f"{where} is tagged {CHECKED} without an execution count: nbval "
                "would not compare it (python -m peft_course.grading outputs)"
            )
        if is_checked(cell) and not is_autograded_test(cell) and not output_text(cell).strip():
            problems.append(
                f"{where} is tagged {CHECKED} but has no stored text output: run "
                "python -m peft_course.grading outputs"
            )
        bad = [
            o
            for o in cell.outputs
            if o.get("output_type") == "error"
            or (o.get("output_type") == "stream" and o.get("name") == "stderr")
        ]
        if bad:
            problems.append(f"{where} stores an error or stderr output")
    return problems


def output_problems(root: Path) -> list[str]:
    return [
        f"solutions/{p}"
        for name in assignments(root)
        for p in notebook_output_problems(Path(root, "solutions", name, f"{name}.ipynb"))
    ]


def execute_copy(path: Path, timeout: int):
    """Execute the notebook at `path` in a temporary copy of its folder; (executed nb, error)."""
    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(path.parent, tmp, dirs_exist_ok=True)  # files next to the notebook
        client = NotebookClient(
            nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": tmp}}
        )
        try:
            client.execute()
        except CellExecutionError as exc:
            return nb, f"{exc.ename}: {exc.evalue}"[:200]
    return nb, None


def _clean(output):
    """An output as committed (execute_result counts are not compared by nbval)."""
    output = nbformat.from_dict(dict(output))
    if output.get("output_type") == "execute_result":
        output["execution_count"] = None
    return output


def store_outputs(root: Path, names: list[str] | None = None, timeout: int = 900) -> list[str]:
    """Execute the named solution notebooks and write the outputs of their checked cells into
    them (every other output cleared). A notebook that raises is left untouched. Returns one
    line per notebook."""
    report = []
    for name in names or assignments(root):
        path = Path(root, "solutions", name, f"{name}.ipynb")
        executed, error = execute_copy(path, timeout)
        if error:
            report.append(f"{name}: not stored, the notebook raised {error}")
            continue
        source = nbformat.read(path, as_version=4)
        ran = {c.get("id"): c for c in executed.cells}
        count = 0
        for cell in source.cells:
            if cell.cell_type != "code":
                continue
            keep = is_checked(cell) and not is_autograded_test(cell)
            cell.outputs = [_clean(o) for o in ran[cell.get("id")].outputs] if keep else []
            count += is_checked(cell)  # nbval compares only cells that carry an execution count
            cell.execution_count = count if is_checked(cell) else None
        write_text_atomic(path, nbformat.writes(source) + "\n")
        report.append(
            f"{name}: stored the outputs of "
            f"{sum(is_checked(c) and bool(c.outputs) for c in source.cells)} checked cells"
        )
    return report
