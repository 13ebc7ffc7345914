"""The course's nbgrader pipeline: release the student notebooks, autograde, report, and check.

    python scripts/grading.py release [NN_topic ...]  # solutions/ -> notebooks/ (make release)
    python scripts/grading.py grade                   # _grading/submitted/ -> table + feedback
    python scripts/grading.py check [--execute]       # the checks `make test` runs, on this repo

Every function takes the course folder (`root`) as its first argument, so the tests run the same
code on a temporary copy or on the small fixture course in tests/fixtures/grading/. nbgrader runs
in-process (one start-up); one autograde call per student group grades all its notebooks.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import nbformat
import nbgrader
import nbgrader.api
from nbgrader.api import Gradebook
from nbgrader.converters import Autograde, GenerateAssignment, GenerateFeedback
from nbgrader.converters.base import NbGraderException
from nbgrader.coursedir import CourseDirectory
from sqlalchemy.exc import SAWarning
from traitlets.config import Config, PyFileConfigLoader

ROOT = Path(__file__).resolve().parents[1]
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


def course_config(root: Path, timeout: int | None = None) -> Config:
    """The repository's nbgrader_config.py with every folder moved under `root`."""
    root = Path(root).resolve()
    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    cfg.CourseDirectory.root = str(root)
    cfg.CourseDirectory.db_url = f"sqlite:///{root / GRADING / 'gradebook.db'}"
    if timeout is not None:
        cfg.Execute.timeout = int(timeout)
    (root / GRADING).mkdir(exist_ok=True)
    return cfg


def assignments(root: Path, folder: str = "solutions") -> list[str]:
    """Names of the course notebooks: `<folder>/NN_topic/NN_topic.ipynb`."""
    return sorted(p.parent.name for p in Path(root, folder).glob("*/*.ipynb")
                  if p.stem == p.parent.name)


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
        raise RuntimeError(f"nbgrader {converter_cls.__name__} failed in {root}:\n"
                           f"{buffer.getvalue()[-4000:]}") from exc
    finally:
        converter.log.removeHandler(handler)


def _normalise(path: Path) -> None:
    """Keep only deterministic notebook metadata (no execution timestamps, widget state, ...)."""
    nb = nbformat.read(path, as_version=4)
    nb.metadata = nbformat.from_dict({
        "kernelspec": nb.metadata.get("kernelspec", {}),
        "language_info": {"name": nb.metadata.get("language_info", {}).get("name", "python")},
    })
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
        _run(GenerateAssignment, root, assignment_id=name, force=True, create_assignment=True,
             no_database=not database)
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
                problems.append(f"notebooks/{rel} differs from a fresh release ({_first_diff(a, b)})"
                                ": never edit notebooks/ by hand, run `make release`")
    return problems


def _first_diff(fresh: Path, committed: Path) -> str:
    if fresh.suffix != ".ipynb":
        return "file content"
    a, b = json.loads(fresh.read_text()), json.loads(committed.read_text())
    for i, (ca, cb) in enumerate(zip(a["cells"], b["cells"], strict=False)):
        if ca != cb:
            return f"cell {i} '{ca.get('id')}'"
    return "notebook metadata" if len(a["cells"]) == len(b["cells"]) else "number of cells"


MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS",
           "BEGIN MARK SCHEME", "END MARK SCHEME")
SECRET = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END \1", re.DOTALL)


def _secret_lines(nb) -> set[str]:
    """Lines of solutions and hidden tests that appear nowhere else in the instructor notebook."""
    secret, public = set(), set()
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "markdown" and meta.get("solution") and "### BEGIN" not in cell.source:
            secret |= set(cell.source.splitlines())  # a written answer: the whole cell
            continue
        secret |= {ln for m in SECRET.finditer(cell.source) for ln in m.group(2).splitlines()}
        public |= set(SECRET.sub("", cell.source).splitlines())
    strip = {ln.strip() for ln in public}
    return {ln.strip() for ln in secret if len(ln.strip()) >= 6 and ln.strip() not in strip}


def leak_problems(root: Path) -> list[str]:
    """Check (c): no solution text, hidden test, BEGIN/END marker or output in `root/notebooks`."""
    problems = []
    for name in assignments(root):
        path = Path(root, "notebooks", name, f"{name}.ipynb")
        if not path.exists():
            problems.append(f"notebooks/{name}/{name}.ipynb is missing: run `make release`")
            continue
        secret = _secret_lines(nbformat.read(Path(root, "solutions", name, f"{name}.ipynb"), 4))
        for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
            where = f"notebooks/{name} cell {i} '{cell.get('id')}'"
            problems += [f"{where} contains the marker {m!r}" for m in MARKERS if m in cell.source]
            problems += [f"{where} contains solution/hidden-test text {ln[:60]!r}"
                         for ln in dict.fromkeys(x.strip() for x in cell.source.splitlines())
                         if ln in secret]
            if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
                problems.append(f"{where} has outputs or an execution count")
    return problems


EXERCISE = re.compile(r"^### Exercise \d+ \((easy|medium|stretch)\): \S", re.MULTILINE)


def lint_notebook(path: Path) -> list[str]:
    """Check (f): the notebook contract of docs/authoring.md, on one solution notebook."""
    from peft_course.course import colab_badge

    name, nb, problems = Path(path).stem, nbformat.read(path, as_version=4), []
    if nb.metadata.get("kernelspec", {}).get("name") != "python3":
        problems.append("kernelspec is not python3")
    ids = [c.get("id") for c in nb.cells]
    for i, cid in enumerate(ids):
        if not cid or not re.fullmatch(rf"{name[:2]}-[a-z0-9][a-z0-9_-]*", cid):
            problems.append(f"cell {i} id {cid!r} is not a stable '{name[:2]}-name' id")
    problems += [f"cell id {d!r} is used twice" for d in sorted({x for x in ids if ids.count(x) > 1})]
    for c in nb.cells:
        meta = c.metadata.get("nbgrader")
        if meta and meta.get("grade_id") != c.get("id"):
            problems.append(f"cell {c.get('id')}: nbgrader grade_id differs from the cell id")
        if c.cell_type == "code" and (c.outputs or c.execution_count is not None):
            problems.append(f"cell {c.get('id')} has outputs: commit notebooks without outputs")
    text = [c.source for c in nb.cells if c.cell_type == "markdown"]
    if not nb.cells or nb.cells[0].cell_type != "markdown" or not re.match(
            rf"# {name[:2]} . \S", nb.cells[0].source):
        problems.append(f"the first cell is not a title '# {name[:2]} · Title'")
    elif colab_badge(f"notebooks/{name}/{name}.ipynb") not in nb.cells[0].source:
        problems.append("the title cell has no (current) Colab badge: run scripts/sync_colab.py")
    objectives = [t for t in text if t.startswith("## Learning objectives")]
    bullets = len(re.findall(r"^\s*[-*] \S", objectives[0], re.MULTILINE)) if objectives else 0
    if not 3 <= bullets <= 5:
        problems.append(f"'## Learning objectives' needs 3-5 bullets (found {bullets})")
    first_code = next((c.source for c in nb.cells if c.cell_type == "code"), "")
    if "print(environment_report())" not in first_code:
        problems.append("the first code cell is not the setup cell printing environment_report()")
    for heading in ("## Summary", "## Next steps"):
        if not any(re.search(rf"^{heading}\s*$", t, re.MULTILINE) for t in text):
            problems.append(f"no '{heading}' section")
    labelled = [m for t in text for m in EXERCISE.findall(t)]
    unlabelled = [ln for t in text for ln in t.splitlines()
                  if ln.startswith("### Exercise") and not EXERCISE.match(ln)]
    problems += [f"exercise heading not labelled easy/medium/stretch: {ln!r}" for ln in unlabelled]
    meta = [c.metadata.get("nbgrader", {}) for c in nb.cells]
    tests = [c for c, m in zip(nb.cells, meta, strict=True)
             if m.get("grade") and not m.get("solution") and c.cell_type == "code"]
    if len(labelled) < 3 or len(tests) < 3 or sum(bool(m.get("solution")) for m in meta) < 3:
        problems.append(f"needs >= 3 graded exercises (headings {len(labelled)}, "
                        f"test cells {len(tests)})")
    for c in tests:
        if not c.metadata["nbgrader"].get("points") or not c.metadata["nbgrader"].get("locked"):
            problems.append(f"test cell {c.get('id')} must be locked and worth points")
        if "### BEGIN HIDDEN TESTS" not in c.source or "assert" not in c.source.split("###")[0]:
            problems.append(f"test cell {c.get('id')} needs visible asserts, then hidden tests")
    return problems


def lint_problems(root: Path) -> list[str]:
    """Check (f) on every solution notebook of `root`."""
    return [f"solutions/{name}: {p}" for name in assignments(root)
            for p in lint_notebook(Path(root, "solutions", name, f"{name}.ipynb"))]


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


def autograde(root: Path, student: str = "*", assignment: str = "*", timeout: int | None = None,
              force: bool = True):
    """nbgrader autograde --create over every matching submission, in one invocation. Without
    `force`, only new submissions (or newer timestamp.txt) are executed; manual grades are kept
    either way (nbgrader then flags the cell for review)."""
    _run(Autograde, root, timeout, assignment_id=assignment, student_id=student,
         force=force, create_student=True)


def feedback(root: Path, student: str = "*", assignment: str = "*") -> list[Path]:
    """nbgrader generate_feedback: one HTML file per autograded notebook."""
    _run(GenerateFeedback, root, assignment_id=assignment, student_id=student, force=True)
    return sorted(Path(root, GRADING, "feedback").glob("*/*/*.html"))


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
    with Gradebook(course_config(root).CourseDirectory.db_url) as gb:
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
            "messages": [f"{o.get('ename', '')}: {o.get('evalue', '')}"[:160]
                         for o in outs if o.output_type == "error"],
            "stderr": "".join(o.get("text", "") for o in outs
                              if o.output_type == "stream" and o.get("name") == "stderr"),
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
    return (parse(ends[-1].replace("Z", "+00:00")) - parse(starts[0].replace("Z", "+00:00"))
            ).total_seconds()


def execution_problems(root: Path, name: str, student: str = SOLUTION_STUDENT) -> list[str]:
    """Check (a): no cell of the autograded notebook has an error output (autograde itself
    allows errors and exits 0, so one execution serves this check and the scoring)."""
    if not autograded_notebook(root, student, name).exists():
        return [f"{name}: {student} was not autograded"]
    return [f"{name}: cell {cid} of {student} raised {'; '.join(o['messages'])}"
            for cid, o in cell_outputs(root, student, name).items() if o["errors"]]


def full_marks_problems(root: Path, name: str, student: str = SOLUTION_STUDENT) -> list[str]:
    """Check (d): `student` (the solutions) earned full marks on every autograded test cell."""
    cells = scores(root).get((student, name))
    if not cells:
        return [f"{name}: {student} has no grades in the gradebook"]
    outputs, problems = cell_outputs(root, student, name), []
    for c in cells:
        if c.autograded_test and c.score != c.max_score:
            why = outputs.get(c.name, {})
            reason = (f"stderr output {why['stderr'].strip()[:80]!r} scores a cell 0"
                      if why.get("stderr") else f"errors: {why.get('errors')}")
            problems.append(f"{name}: test {c.name} gives the solutions {c.score:g}/"
                            f"{c.max_score:g} ({reason})")
    return problems


def blank_zero_problems(root: Path, name: str, student: str = BLANK_STUDENT) -> list[str]:
    """Check (e): the untouched student notebook earned 0 on every autograded test cell."""
    cells = scores(root).get((student, name))
    if not cells:
        return [f"{name}: {student} has no grades in the gradebook"]
    return [f"{name}: test {c.name} gives the blank notebook {c.score:g}/{c.max_score:g}: "
            "a graded test must fail before the exercise is done"
            for c in cells if c.autograded_test and c.score != 0]


def graded_problems(root: Path, names: list[str] | None = None) -> list[str]:
    """Checks (a), (d), (e) on a course autograded by self_check."""
    return [p for name in names or assignments(root)
            for p in execution_problems(root, name) + full_marks_problems(root, name)
            + blank_zero_problems(root, name)]


# The blank notebooks only have to score 0 on every graded test, and graded tests check the
# learner's own answers, so their non-exercise training cells run with scaled-down step counts
# (peft_course.device.steps_for_device honours PEFT_COURSE_STEPS_SCALE). The solutions run in full.
BLANK_STEPS_SCALE = os.environ.get("PEFT_COURSE_BLANK_STEPS_SCALE", "0.1")


@contextlib.contextmanager
def _environ(**values: str):
    """Set environment variables for the kernels started inside the block, then restore them."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def self_check(root: Path, timeout: int | None = None, work: Path | None = None,
               extra: dict[str, Path] | None = None) -> dict:
    """The whole pipeline on a course folder, without touching it: release into a scratch copy
    (`work`), compare with `root/notebooks`, autograde the solutions and the untouched
    `root/notebooks` (plus `extra` {student: folder} submissions), each notebook executed
    once (the blank ones with BLANK_STEPS_SCALE), then every check. Returns counts, problems
    and `work`."""
    root = Path(root).resolve()
    scratch = tempfile.TemporaryDirectory() if work is None else None
    work = Path(scratch.name if scratch else work)
    seconds, clock = {}, time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        seconds[stage], clock = time.perf_counter() - clock, time.perf_counter()

    try:
        names = assignments(root)
        problems = regenerate_problems(root) + leak_problems(root) + lint_problems(root)
        lap("static checks")
        shutil.copytree(root / "solutions", work / "solutions", dirs_exist_ok=True)
        release(work)  # registers the assignments in the scratch gradebook
        submit(work, SOLUTION_STUDENT, root / "solutions", names)
        submit(work, BLANK_STUDENT, root / "notebooks", names)
        for student, folder in (extra or {}).items():
            submit(work, student, folder)
        lap("release")
        autograde(work, student=SOLUTION_STUDENT, timeout=timeout)
        with _environ(PEFT_COURSE_STEPS_SCALE=BLANK_STEPS_SCALE):
            autograde(work, student=BLANK_STUDENT, timeout=timeout)
        for student in extra or {}:
            autograde(work, student=student, timeout=timeout)
        lap("autograde")
        problems += graded_problems(work, names)
        tests = {k: [c for c in v if c.autograded_test] for k, v in scores(work).items()}
        sol = [c for (s, _), cs in tests.items() if s == SOLUTION_STUDENT for c in cs]
        blank = [c for (s, _), cs in tests.items() if s == BLANK_STUDENT for c in cs]
        lap("gradebook checks")
        return {
            "notebooks": names, "problems": problems, "work": work, "seconds": seconds,
            "executed": sum(1 for _ in Path(work, GRADING, "autograded").glob("*/*/*.ipynb")),
            "cells_graded": sum(len(v) for v in tests.values()),
            "solution_full": sum(c.score == c.max_score for c in sol), "solution_tests": len(sol),
            "blank_zero": sum(c.score == 0 for c in blank), "blank_tests": len(blank),
            "times": {(student, n): execution_seconds(work, student, n)
                      for student in (SOLUTION_STUDENT, BLANK_STUDENT) for n in names},
        }
    finally:
        if scratch:
            scratch.cleanup()


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
        raise SystemExit(f"nothing to grade: put submissions in {GRADING}/submitted/<student>/"
                         "<NN_topic>/ (nbgrader collect or zip_collect does this)")
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


class _HiddenTestsChecksum(logging.Filter):
    """Drops nbgrader's "checksum has changed" warning for test cells with hidden tests: the
    student's copy never has them, so it always fires (the cell is restored from the gradebook)."""

    def __init__(self, root: Path):
        super().__init__()
        self.ids = {c.get("id") for name in assignments(root)
                    for c in nbformat.read(Path(root, "solutions", name, f"{name}.ipynb"), 4).cells
                    if "### BEGIN HIDDEN TESTS" in c.source}

    def filter(self, record: logging.LogRecord) -> bool:
        match = re.match(r"Attribute 'checksum' for cell (\S+) has changed", record.getMessage())
        return not (match and match.group(1) in self.ids)


def main(argv: list[str] | None = None) -> int:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root", type=Path, default=ROOT, help="course folder (default: repo)")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rel = sub.add_parser("release", parents=[common], help="regenerate notebooks/ from solutions/")
    rel.add_argument("names", nargs="*", help="NN_topic names (default: all)")
    grd = sub.add_parser("grade", parents=[common],
                         help="autograde _grading/submitted/, table, feedback")
    grd.add_argument("--force", action="store_true",
                     help="re-execute submissions that were autograded before")
    chk = sub.add_parser("check", parents=[common],
                         help="regeneration, leak and lint checks (--execute: all)")
    chk.add_argument("--execute", action="store_true",
                     help="also autograde the solutions and the blank notebooks")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_HiddenTestsChecksum(args.root))
    if args.command == "release":
        for name in release(args.root, args.names or None):
            print(f"released notebooks/{name}/{name}.ipynb")
        return 0
    if args.command == "grade":
        print(grade(args.root, force=args.force))
        print(f"feedback: {GRADING}/feedback/<student>/<NN_topic>/*.html; manual grading: "
              "`nbgrader formgrader` (docs/instructors.md)")
        return 0
    if args.execute:
        result = self_check(args.root)
        problems = result["problems"]
        print(f"{result['executed']} notebooks executed, {result['cells_graded']} cells "
              f"graded, solutions full marks {result['solution_full']}/{result['solution_tests']},"
              f" blank zero {result['blank_zero']}/{result['blank_tests']}")
        print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in result["seconds"].items()))
    else:
        problems = regenerate_problems(args.root) + leak_problems(args.root) + \
            lint_problems(args.root)
    for p in problems:
        print(f"FAIL {p}")
    print("all checks passed" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
