"""What an autograde run left behind: gradebook scores, autograded outputs, checks a, d, e."""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import nbgrader
import nbgrader.api
from nbgrader.api import Gradebook

from .checks import assignments

GRADING = "_grading"
SOLUTION_STUDENT = "solutions"  # the student id under which the solutions are autograded in checks
BLANK_STUDENT = "blank"  # ... and the untouched student notebooks


# nbgrader runs `alembic` (a console script of the venv) when it creates a gradebook database.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


@functools.cache
def _alembic_head() -> str:
    """The gradebook schema version. nbgrader asks the `alembic` CLI in a subprocess each time it
    creates a gradebook (~3 s of CPU, all imports); in-process it takes milliseconds."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(Path(nbgrader.__file__).parent / "alembic")).get_current_head()


nbgrader.api.get_alembic_version = _alembic_head


def gradebook_url(root: Path) -> str:
    """The course's gradebook database (under `root/_grading`)."""
    return f"sqlite:///{Path(root).resolve() / GRADING / 'gradebook.db'}"


@dataclass
class CellScore:
    """One graded cell of one submitted notebook, as the gradebook records it."""

    name: str
    score: float
    max_score: float
    autograded_test: bool  # a locked test cell (not a solution cell, not manually graded)


def scores(root: Path) -> dict[tuple[str, str], list[CellScore]]:
    """{(student, assignment): [CellScore, ...]} for every autograded submission (Gradebook API)."""
    out = {}
    with Gradebook(gradebook_url(root)) as gb:
        for assignment in gb.assignments:
            for sub in assignment.submissions:
                cells = []
                for nb in sub.notebooks:
                    solution_cells = {c.name for c in nb.notebook.solution_cells}
                    for g in nb.grades:
                        test = g.cell_type == "code" and g.name not in solution_cells
                        cells.append(CellScore(g.name, g.score, g.max_score, test))
                out[(sub.student.id, assignment.name)] = cells
    return out


def autograded_notebook(root: Path, student: str, name: str) -> Path:
    return Path(root, GRADING, "autograded", student, name, f"{name}.ipynb")


def cell_outputs(root: Path, student: str, name: str) -> dict[str, dict]:
    """{cell id: {"errors": [ename, ...], "messages": ["ename: evalue", ...], "stderr": text}}
    of the code cells of an autograded notebook."""
    nb = nbformat.read(autograded_notebook(root, student, name), as_version=4)
    out = {}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        outs = cell.get("outputs", [])
        out[cell.get("id", str(i))] = {
            "errors": [o.get("ename", "") for o in outs if o.output_type == "error"],
            "messages": [
                f"{o.get('ename', '')}: {o.get('evalue', '')}"[:160]
                for o in outs
                if o.output_type == "error"
            ],
            "stderr": "".join(
                o.get("text", "")
                for o in outs
                if o.output_type == "stream" and o.get("name") == "stderr"
            ),
        }
    return out


def execution_seconds(root: Path, student: str, name: str) -> float | None:
    """Wall time of one autograded notebook, from first cell start to last cell reply
    (nbclient records these timestamps in each cell's metadata)."""
    from datetime import datetime

    nb = nbformat.read(autograded_notebook(root, student, name), as_version=4)
    stamps = [c.metadata.get("execution", {}) for c in nb.cells if c.cell_type == "code"]
    starts = [t["iopub.execute_input"] for t in stamps if "iopub.execute_input" in t]
    ends = [t["shell.execute_reply"] for t in stamps if "shell.execute_reply" in t]
    if not starts or not ends:
        return None
    parse = datetime.fromisoformat
    return (
        parse(ends[-1].replace("Z", "+00:00")) - parse(starts[0].replace("Z", "+00:00"))
    ).total_seconds()


def execution_problems(root: Path, name: str, student: str = SOLUTION_STUDENT) -> list[str]:
    """Check (a): no cell of the autograded notebook has an error output (autograde itself
    allows errors and exits 0, so one execution serves this check and the scoring)."""
    if not autograded_notebook(root, student, name).exists():
        return [f"{name}: {student} was not autograded"]
    return [
        f"{name}: cell {cid} of {student} raised {'; '.join(o['messages'])}"
        for cid, o in cell_outputs(root, student, name).items()
        if o["errors"]
    ]


def full_marks_problems(root: Path, name: str, student: str = SOLUTION_STUDENT) -> list[str]:
    """Check (d): `student` (the solutions) earned full marks on every autograded test cell."""
    cells = scores(root).get((student, name))
    if not cells:
        return [f"{name}: {student} has no grades in the gradebook"]
    outputs, problems = cell_outputs(root, student, name), []
    for c in cells:
        if c.autograded_test and c.score != c.max_score:
            why = outputs.get(c.name, {})
            reason = (
                f"stderr output {why['stderr'].strip()[:80]!r} scores a cell 0"
                if why.get("stderr")
                else f"errors: {why.get('errors')}"
            )
            problems.append(
                f"{name}: test {c.name} gives the solutions {c.score:g}/{c.max_score:g} ({reason})"
            )
    return problems


def blank_zero_problems(root: Path, name: str, student: str = BLANK_STUDENT) -> list[str]:
    """Check (e): the untouched student notebook earned 0 on every autograded test cell."""
    cells = scores(root).get((student, name))
    if not cells:
        return [f"{name}: {student} has no grades in the gradebook"]
    return [
        f"{name}: test {c.name} gives the blank notebook {c.score:g}/{c.max_score:g}: "
        "a graded test must fail before the exercise is done"
        for c in cells
        if c.autograded_test and c.score != 0
    ]


def graded_problems(
    root: Path, names: list[str] | None = None, solutions: bool = True
) -> list[str]:
    """Checks (a), (d), (e) on a course autograded by self_check ((e) alone without
    `solutions`)."""
    return [
        p
        for name in names or assignments(root)
        for p in (
            execution_problems(root, name) + full_marks_problems(root, name) if solutions else []
        )
        + blank_zero_problems(root, name)
    ]
