"""Static checks of the course notebooks, no execution: leaks (check c) and lint (check f)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from ..course import colab_badge


def assignments(root: Path, folder: str = "solutions") -> list[str]:
    """Names of the course notebooks: `<folder>/NN_topic/NN_topic.ipynb`."""
    return sorted(
        p.parent.name for p in Path(root, folder).glob("*/*.ipynb") if p.stem == p.parent.name
    )


MARKERS = (
    "BEGIN SOLUTION",
    "END SOLUTION",
    "BEGIN HIDDEN TESTS",
    "END HIDDEN TESTS",
    "BEGIN MARK SCHEME",
    "END MARK SCHEME",
)
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
            problems += [
                f"{where} contains solution/hidden-test text {ln[:60]!r}"
                for ln in dict.fromkeys(x.strip() for x in cell.source.splitlines())
                if ln in secret
            ]
            if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
                problems.append(f"{where} has outputs or an execution count")
    return problems


# "### Exercise N (tier): title" or "(tier, kind)": graded on the code's result (outcome), on a
# conclusion the test recomputes (interpretation), or a guided transcription (easy tier only)
EXERCISE = re.compile(
    r"^### Exercise \d+ \((easy|medium|stretch)(?:, (outcome|interpretation|guided))?\): \S",
    re.MULTILINE,
)
IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)[^)]*\)")  # ![alt](target "title")
DISPLAYED = re.compile(r"\bImage\(\s*(filename\s*=\s*)?[^)]*\.(png|jpe?g|svg)")


def image_problems(path: Path) -> list[str]:
    """Figures are markdown images whose relative path resolves from the solution notebook and from
    its released copy in notebooks/ (so GitHub, Lab and nbconvert show them before any cell runs),
    each with alt text; no code cell displays an image file."""
    path = Path(path)
    release = path.parents[2] / "notebooks" / path.parent.name
    problems = []
    for cell in nbformat.read(path, as_version=4).cells:
        where = f"cell {cell.get('id')}"
        if cell.cell_type == "code" and DISPLAYED.search(cell.source):
            problems.append(
                f"{where} displays an image file from code: make it a markdown image "
                "![alt](../../images/NAME.png) so it shows without running"
            )
        if cell.cell_type != "markdown":
            continue
        for alt, target in IMAGE.findall(cell.source):
            if re.match(r"[a-z]+://", target):
                continue
            if not alt.strip():
                problems.append(f"{where}: the image {target} has no alt text")
            for folder in (path.parent, release):
                if not (folder / target).is_file():
                    problems.append(
                        f"{where}: the image {target} does not exist from "
                        f"{folder.parent.name}/{folder.name}/"
                    )
    return problems


def lint_notebook(path: Path) -> list[str]:
    """Check (f): the notebook contract of docs/authoring.md, on one solution notebook."""
    name, nb, problems = Path(path).stem, nbformat.read(path, as_version=4), []
    if nb.metadata.get("kernelspec", {}).get("name") != "python3":
        problems.append("kernelspec is not python3")
    ids = [c.get("id") for c in nb.cells]
    for i, cid in enumerate(ids):
        if not cid or not re.fullmatch(rf"{name[:2]}-[a-z0-9][a-z0-9_-]*", cid):
            problems.append(f"cell {i} id {cid!r} is not a stable '{name[:2]}-name' id")
    problems += [
        f"cell id {d!r} is used twice" for d in sorted({x for x in ids if ids.count(x) > 1})
    ]
    for c in nb.cells:
        meta = c.metadata.get("nbgrader")
        if meta and meta.get("grade_id") != c.get("id"):
            problems.append(f"cell {c.get('id')}: nbgrader grade_id differs from the cell id")
    text = [c.source for c in nb.cells if c.cell_type == "markdown"]
    if (
        not nb.cells
        or nb.cells[0].cell_type != "markdown"
        or not re.match(rf"# {name[:2]} . \S", nb.cells[0].source)
    ):
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
    problems += image_problems(path)
    for heading in ("## Summary", "## Next steps"):
        if not any(re.search(rf"^{heading}\s*$", t, re.MULTILINE) for t in text):
            problems.append(f"no '{heading}' section")
    labelled = [m for t in text for m in EXERCISE.findall(t)]
    unlabelled = [
        ln
        for t in text
        for ln in t.splitlines()
        if ln.startswith("### Exercise") and not EXERCISE.match(ln)
    ]
    problems += [
        f"exercise heading not labelled easy/medium/stretch (optionally ', outcome', "
        f"', interpretation' or ', guided'): {ln!r}"
        for ln in unlabelled
    ]
    problems += [
        f"a guided exercise must be easy: {tier}, {kind}"
        for tier, kind in labelled
        if kind == "guided" and tier != "easy"
    ]
    meta = [c.metadata.get("nbgrader", {}) for c in nb.cells]
    tests = [
        c
        for c, m in zip(nb.cells, meta, strict=True)
        if m.get("grade") and not m.get("solution") and c.cell_type == "code"
    ]
    if len(labelled) < 3 or len(tests) < 3 or sum(bool(m.get("solution")) for m in meta) < 3:
        problems.append(
            f"needs >= 3 graded exercises (headings {len(labelled)}, test cells {len(tests)})"
        )
    for c in tests:
        if not c.metadata["nbgrader"].get("points") or not c.metadata["nbgrader"].get("locked"):
            problems.append(f"test cell {c.get('id')} must be locked and worth points")
        if "### BEGIN HIDDEN TESTS" not in c.source or "assert" not in c.source.split("###")[0]:
            problems.append(f"test cell {c.get('id')} needs visible asserts, then hidden tests")
    return problems


def lint_problems(root: Path) -> list[str]:
    """Check (f) on every solution notebook of `root`."""
    return [
        f"solutions/{name}: {p}"
        for name in assignments(root)
        for p in lint_notebook(Path(root, "solutions", name, f"{name}.ipynb"))
    ]
