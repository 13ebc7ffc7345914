"""The nbgrader pipeline, in-process: release, submit, autograde, feedback, the score table."""

from __future__ import annotations

import io
import json
import logging
import re
import shutil
import tempfile
import warnings
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook
from nbgrader.converters import Autograde, GenerateAssignment, GenerateFeedback
from nbgrader.converters.base import NbGraderException
from nbgrader.coursedir import CourseDirectory
from sqlalchemy.exc import SAWarning
from traitlets.config import Config, PyFileConfigLoader

from ..course import repo_path
from .checks import assignments
from .results import GRADING, gradebook_url, scores


def course_config(root: Path, timeout: int | None = None) -> Config:
    """The repository's nbgrader_config.py with every folder moved under `root`."""
    root = Path(root).resolve()
    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(repo_path())).load_config()
    cfg.CourseDirectory.root = str(root)
    cfg.CourseDirectory.db_url = gradebook_url(root)
    if timeout is not None:
        cfg.Execute.timeout = int(timeout)
    (root / GRADING).mkdir(exist_ok=True)
    return cfg


def _run(converter_cls, root: Path, timeout: int | None = None, **attrs) -> None:
    """Run one nbgrader converter in-process over the globs in `attrs` (assignment_id, ...)."""
    cfg = course_config(root, timeout)
    if converter_cls is GenerateFeedback:
        cfg.HTMLExporter.template_name = "feedback"
    if attrs.get("no_database"):  # what `generate_assignment --no-db` sets
        cfg.SaveCells.enabled = False
    coursedir = CourseDirectory(config=cfg)
    for key in ("assignment_id", "student_id", "notebook_id"):
        if key in attrs:
            setattr(coursedir, key, attrs.pop(key))
    converter = converter_cls(coursedir=coursedir, config=cfg)
    for key, value in attrs.items():
        setattr(converter, key, value)
    buffer = io.StringIO()  # nbgrader logs the cause of a failure, then raises a bare exception
    handler = logging.StreamHandler(buffer)
    handler.setLevel(logging.WARNING)
    converter.log.addHandler(handler)
    try:
        with warnings.catch_warnings():  # nbgrader's own SQLAlchemy session warnings
            warnings.simplefilter("ignore", SAWarning)
            converter.start()
    except NbGraderException as exc:
        raise RuntimeError(
            f"nbgrader {converter_cls.__name__} failed in {root}:\n{buffer.getvalue()[-4000:]}"
        ) from exc
    finally:
        converter.log.removeHandler(handler)


def _normalise(path: Path) -> None:
    """Keep only deterministic notebook metadata (no execution timestamps, widget state, ...)."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata = nbformat.from_dict(
        {
            "kernelspec": nb.metadata.get("kernelspec", {}),
            "language_info": {"name": nb.metadata.get("language_info", {}).get("name", "python")},
        }
    )
    for cell in nb.cells:
        for key in ("execution", "collapsed", "scrolled", "ExecuteTime"):
            cell.metadata.pop(key, None)
    nbformat.write(nb, str(path))


def release(root: Path, names: list[str] | None = None, database: bool = True) -> list[str]:
    """Regenerate `root/notebooks/` from `root/solutions/` and register the assignments in the
    gradebook (nbgrader generate_assignment --force --create; `database=False`: --no-db).
    Returns the released names."""
    root = Path(root).resolve()
    names = names or assignments(root)
    for name in names:
        _run(
            GenerateAssignment,
            root,
            assignment_id=name,
            force=True,
            create_assignment=True,
            no_database=not database,
        )
        _normalise(root / "notebooks" / name / f"{name}.ipynb")
    if names == assignments(root):  # a full release also drops notebooks whose source is gone
        for stale in sorted(set(assignments(root, "notebooks")) - set(names)):
            shutil.rmtree(root / "notebooks" / stale)
            print(f"removed notebooks/{stale} (no solutions/{stale})")
    return names


def regenerate_problems(root: Path) -> list[str]:
    """Check (b): releasing `root/solutions` into a temporary folder reproduces `root/notebooks`."""
    root = Path(root).resolve()
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(root / "solutions", Path(tmp) / "solutions")
        release(Path(tmp), database=False)
        fresh, committed = Path(tmp) / "notebooks", root / "notebooks"
        files = {p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file()}
        if committed.is_dir():
            files |= {p.relative_to(committed) for p in committed.rglob("*") if p.is_file()}
        for rel in sorted(files):
            a, b = fresh / rel, committed / rel
            if not b.exists():
                problems.append(f"notebooks/{rel} is missing: run `make release`")
            elif not a.exists():
                problems.append(f"notebooks/{rel} has no source in solutions/: run `make release`")
            elif a.read_bytes() != b.read_bytes():
                problems.append(
                    f"notebooks/{rel} differs from a fresh release ({_first_diff(a, b)})"
                    ": never edit notebooks/ by hand, run `make release`"
                )
    return problems


def _first_diff(fresh: Path, committed: Path) -> str:
    if fresh.suffix != ".ipynb":
        return "file content"
    a, b = json.loads(fresh.read_text()), json.loads(committed.read_text())
    for i, (ca, cb) in enumerate(zip(a["cells"], b["cells"], strict=False)):
        if ca != cb:
            return f"cell {i} '{ca.get('id')}'"
    return "notebook metadata" if len(a["cells"]) == len(b["cells"]) else "number of cells"


def submit(root: Path, student: str, folder: Path, names: list[str] | None = None) -> None:
    """Copy `folder/<a>/` (or the notebooks `folder/<a>.ipynb`) in as `student`'s submission."""
    root, folder = Path(root), Path(folder)
    flat = [p.stem for p in sorted(folder.glob("*.ipynb"))]
    for name in names or assignments(folder, ".") or flat:
        dest = root / GRADING / "submitted" / student / name
        shutil.rmtree(dest, ignore_errors=True)
        if (folder / name).is_dir():
            shutil.copytree(folder / name, dest)
        elif (folder / f"{name}.ipynb").is_file():
            dest.mkdir(parents=True)
            shutil.copy(folder / f"{name}.ipynb", dest / f"{name}.ipynb")


def autograde(
    root: Path,
    student: str = "*",
    assignment: str = "*",
    timeout: int | None = None,
    force: bool = True,
):
    """nbgrader autograde --create over every matching submission, in one invocation. Without
    `force`, only new submissions (or newer timestamp.txt) are executed; manual grades are kept
    either way (nbgrader then flags the cell for review)."""
    _run(
        Autograde,
        root,
        timeout,
        assignment_id=assignment,
        student_id=student,
        force=force,
        create_student=True,
    )


def feedback(root: Path, student: str = "*", assignment: str = "*") -> list[Path]:
    """nbgrader generate_feedback: one HTML file per autograded notebook."""
    _run(GenerateFeedback, root, assignment_id=assignment, student_id=student, force=True)
    return sorted(Path(root, GRADING, "feedback").glob("*/*/*.html"))


def score_table(root: Path) -> str:
    """Student x notebook table of `score / max` (total per student in the last column)."""
    table = scores(root)
    students = sorted({s for s, _ in table})
    names = sorted({a for _, a in table})
    rows = [["student", *names, "total"]]
    for s in students:
        row, got, most = [s], 0.0, 0.0
        for a in names:
            cells = table.get((s, a))
            if cells is None:
                row.append("-")
                continue
            sc, mx = sum(c.score for c in cells), sum(c.max_score for c in cells)
            got, most = got + sc, most + mx
            row.append(f"{sc:g} / {mx:g}")
        rows.append(row + [f"{got:g} / {most:g}"])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def grade(root: Path, timeout: int | None = None, force: bool = False) -> str:
    """The instructor's command: autograde `_grading/submitted/*/*` (new submissions only unless
    `force`), write the feedback HTML, return the score table."""
    submitted = sorted(Path(root, GRADING, "submitted").glob("*/*/"))
    if not submitted:
        raise SystemExit(
            f"nothing to grade: put submissions in {GRADING}/submitted/<student>/"
            "<NN_topic>/ (nbgrader collect or zip_collect does this)"
        )
    missing = sorted({p.name for p in submitted} - set(assignments(root, "notebooks")))
    if missing:
        raise SystemExit(f"not released: {', '.join(missing)}: run `make release` first")
    with Gradebook(course_config(root).CourseDirectory.db_url) as gb:
        known = {a.name for a in gb.assignments}
    if {p.name for p in submitted} - known:  # e.g. a fresh clone: releasing registers them
        release(root, sorted({p.name for p in submitted} - known))  # (same bytes if up to date)
    autograde(root, timeout=timeout, force=force)
    feedback(root)
    return score_table(root)


class HiddenTestsChecksum(logging.Filter):
    """Drops nbgrader's "checksum has changed" warning for test cells with hidden tests: the
    student's copy never has them, so it always fires (the cell is restored from the gradebook)."""

    def __init__(self, root: Path):
        super().__init__()
        self.ids = {
            c.get("id")
            for name in assignments(root)
            for c in nbformat.read(Path(root, "solutions", name, f"{name}.ipynb"), 4).cells
            if "### BEGIN HIDDEN TESTS" in c.source
        }

    def filter(self, record: logging.LogRecord) -> bool:
        match = re.match(r"Attribute 'checksum' for cell (\S+) has changed", record.getMessage())
        return not (match and match.group(1) in self.ids)
