"""Issue 12's checks, each shown failing on a planted fault in a copy of the fixture course:
the prose rule (peft_course.grading.prose), checked outputs (grading.outputs) compared by nbval,
and figures as markdown images (grading.checks.image_problems). The fixture needs no model, so
these run in the fast lane (nbval starts one small kernel per call)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from peft_course.grading import outputs, prose
from peft_course.grading.checks import image_problems
from peft_course.grading.nbval_lane import notebook_counts

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "grading"
NAME = "00_grading_fixture"
SANITIZE = ROOT / "configs" / "nbval_sanitize.cfg"


def _cells(nb) -> dict:
    return {c.get("id"): c for c in nb.cells}


@pytest.fixture(scope="module")
def checked_course(tmp_path_factory) -> Path:
    """The fixture course with 00-ex2-solution (prints "q_proj: 9216") and the three autograded
    tests tagged as checked, their outputs stored by `grading outputs` (one execution)."""
    root = tmp_path_factory.mktemp("checked")
    shutil.copytree(FIXTURE / "solutions", root / "solutions")
    path = root / "solutions" / NAME / f"{NAME}.ipynb"
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.get("id") == "00-ex2-solution" or outputs.is_autograded_test(cell):
            cell.metadata.setdefault("tags", []).append(prose.CHECKED)
    nbformat.write(nb, str(path))
    report = outputs.store_outputs(root, [NAME], timeout=60)
    assert report == [f"{NAME}: stored the outputs of 1 checked cells"], report
    return root


def _notebook(root: Path) -> Path:
    return root / "solutions" / NAME / f"{NAME}.ipynb"


def _plant(root: Path, tmp_path: Path, edit) -> Path:
    """A copy of the checked notebook with `edit(cells by id)` applied."""
    path = tmp_path / f"{NAME}.ipynb"
    nb = nbformat.read(_notebook(root), as_version=4)
    edit(_cells(nb))
    nbformat.write(nb, str(path))
    return path


def _nbval(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--nbval-lax",
            "--nbval-current-env",
            "--nbval-sanitize-with",
            str(SANITIZE),
            str(path),
        ],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )


# --- checked outputs -------------------------------------------------------------------------------


def test_store_outputs_keeps_only_checked_cells_and_numbers_the_tests(checked_course):
    nb = nbformat.read(_notebook(checked_course), as_version=4)
    cells = _cells(nb)
    assert prose.output_text(cells["00-ex2-solution"]) == "q_proj: 9216\n"
    assert cells["00-setup"].outputs == [] and cells["00-setup"].execution_count is None
    tests = [c for c in nb.cells if outputs.is_autograded_test(c)]
    assert all(c.outputs == [] and c.execution_count for c in tests)  # compared, must stay empty
    assert outputs.notebook_output_problems(_notebook(checked_course)) == []
    assert notebook_counts(_notebook(checked_course)) == (1, 3)


def test_output_rules_catch_unchecked_outputs_and_uncompared_tests(checked_course, tmp_path):
    def edit(cells):
        cells["00-setup"].outputs = [nbformat.v4.new_output("stream", name="stdout", text="x\n")]
        cells["00-ex1-tests"].execution_count = None

    problems = outputs.notebook_output_problems(_plant(checked_course, tmp_path, edit))
    assert any("'00-setup' has an output" in p for p in problems), problems
    assert any(
        "'00-ex1-tests' is tagged nbval-check-output without an execution count" in p
        for p in problems
    ), problems


def test_nbval_passes_the_stored_outputs(checked_course, tmp_path):
    run = _nbval(_plant(checked_course, tmp_path, lambda cells: None))
    assert run.returncode == 0, run.stdout[-2000:]


def test_nbval_catches_a_changed_count(checked_course, tmp_path):
    def edit(cells):
        cells["00-ex2-solution"].outputs[0]["text"] = "q_proj: 9217\n"

    run = _nbval(_plant(checked_course, tmp_path, edit))
    assert run.returncode == 1 and "Cell outputs differ" in run.stdout, run.stdout[-2000:]
    assert "q_proj: 9217" in run.stdout and "q_proj: 9216" in run.stdout


def test_nbval_catches_a_warning_in_a_graded_test(checked_course, tmp_path):
    def edit(cells):  # nbgrader would score this cell 0: stderr output
        cells["00-ex3-tests"].source = (
            "import warnings\nwarnings.warn('planted')\n" + cells["00-ex3-tests"].source
        )

    run = _nbval(_plant(checked_course, tmp_path, edit))
    assert run.returncode == 1 and "planted" in run.stdout, run.stdout[-2000:]


def test_nbval_catches_a_failing_hidden_test(checked_course, tmp_path):
    def edit(cells):
        cells["00-ex2-tests"].source = cells["00-ex2-tests"].source.replace("== 30", "== 31")

    run = _nbval(_plant(checked_course, tmp_path, edit))
    assert run.returncode == 1 and "AssertionError" in run.stdout, run.stdout[-2000:]


# --- the prose rule --------------------------------------------------------------------------------


def test_prose_numbers_skip_names_maths_code_and_links():
    text = (
        "## 3. Ranks\nLoRA (Hu et al., 2021) with $r=8$ on GPT-2 and SmolLM2-135M trains "
        "`921,600` weights in 8-bit, see Exercise 2 and notebook 04 ([04_lora_sft](x/4.md)). "
        "It trains 460,800 parameters, 0.34 % of 135M, in 12.5 s."
    )
    assert prose.prose_numbers(text) == ["460,800", "0.34", "135M", "12.5"]


def _prose_course(tmp_path: Path, sentence: str, printed: str | None, allowed: dict | None):
    """A one-notebook course whose markdown says `sentence`; a checked cell printed `printed`."""
    shutil.copytree(FIXTURE / "solutions", tmp_path / "solutions")
    path = tmp_path / "solutions" / NAME / f"{NAME}.ipynb"
    nb = nbformat.read(path, as_version=4)
    _cells(nb)["00-theory"].source += "\n\n" + sentence
    if printed is not None:
        cell = _cells(nb)["00-ex2-solution"]
        cell.metadata["tags"] = [prose.CHECKED]
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=printed)]
    nbformat.write(nb, str(path))
    if allowed is not None:
        folder = tmp_path / prose.ALLOW_DIR
        folder.mkdir(parents=True)
        (folder / "00.json").write_text(json.dumps(allowed))
    return tmp_path


def test_prose_rule_catches_an_unvouched_number(tmp_path):
    root = _prose_course(tmp_path, "The adapter has 921,600 parameters.", None, None)
    problems = prose.prose_problems(root)
    assert problems == [f"{NAME} cell '00-theory': '921,600' is printed by no checked output"]
    assert prose.prose_counts(root)[NAME][1] == 1


def test_prose_rule_accepts_a_number_a_checked_output_prints(tmp_path):
    root = _prose_course(
        tmp_path, "The adapter has 921,600 parameters.", "trainable: 921600\n", None
    )
    assert prose.prose_problems(root) == []


def test_prose_rule_catches_a_reading_that_no_longer_matches_the_output(tmp_path):
    # the 06 defect: prose says 1.1M, the checked cell prints 921,600
    root = _prose_course(
        tmp_path,
        "the same 1.1M-parameter adapter, 0.68 % of the model",
        "trainable: 921,600\n",
        None,
    )
    assert [p.split(": ", 1)[1] for p in prose.prose_problems(root)] == [
        "'1.1M' is printed by no checked output",
        "'0.68' is printed by no checked output",
    ]


def test_prose_allow_list_needs_a_reason(tmp_path):
    root = _prose_course(
        tmp_path,
        "Adam keeps 2 moments per weight.",
        None,
        {"2": "Adam's two moments, a fact of the optimiser"},
    )
    assert prose.prose_problems(root) == []
    (root / prose.ALLOW_DIR / "00.json").write_text(json.dumps({"2": "yes"}))
    with pytest.raises(ValueError, match="needs a reason"):
        prose.prose_problems(root)


# --- figures as markdown images --------------------------------------------------------------------


def test_image_check_catches_a_missing_figure_and_a_code_displayed_one(tmp_path):
    for folder in ("solutions", "notebooks"):
        shutil.copytree(FIXTURE / folder, tmp_path / folder)
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "fig.png").write_bytes(b"\x89PNG")
    path = tmp_path / "solutions" / NAME / f"{NAME}.ipynb"
    nb = nbformat.read(path, as_version=4)
    _cells(nb)["00-theory"].source += "\n\n![A LoRA layer](../../images/fig.png)"
    nbformat.write(nb, str(path))
    assert image_problems(path) == []
    _cells(nb)["00-theory"].source += "\n\n![](../../images/missing.png)"
    _cells(nb)["00-setup"].source += '\nImage(filename="../../images/fig.png")'
    nbformat.write(nb, str(path))
    problems = image_problems(path)
    assert any("missing.png has no alt text" in p for p in problems), problems
    assert sum("missing.png does not exist" in p for p in problems) == 2  # solution and release
    assert any("cell 00-setup displays an image file" in p for p in problems), problems


def test_notebook_lane_marks_nbval_cells_slow_and_reports_each_notebook(checked_course, tmp_path):
    times = tmp_path / "times.json"
    elsewhere = tmp_path / "fixtures" / "broken.ipynb"  # not under solutions/: never executed
    elsewhere.parent.mkdir()
    shutil.copy(FIXTURE / "submissions" / "broken" / f"{NAME}.ipynb", elsewhere)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-m",
            "slow",
            "--nbval-lax",
            "--nbval-current-env",
            "-p",
            "peft_course.grading.nbval_lane",
            "--notebook-times",
            str(times),
            str(_notebook(checked_course)),
            str(elsewhere.parent),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-2000:]
    assert "7 passed" in run.stdout  # every code cell of the fixture, selected by -m slow
    assert "1 output-checked cells, 3 autograded tests  ok" in run.stdout
    rows = json.loads(times.read_text())["course"]["notebooks"]
    assert [(r["name"], r["ok"]) for r in rows] == [(NAME, True)] and rows[0]["seconds"] > 0
