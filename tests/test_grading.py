"""The grading pipeline (peft_course.grading): configuration, the static checks on the real course,
and planted faults, partial and broken submissions on the small fixture course in
tests/fixtures/grading/ (no model: it executes in seconds, so these tests are not marked slow)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from peft_course import grading
from peft_course.grading.__main__ import main

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "grading"
NAME = "00_grading_fixture"
COURSE = grading.assignments(ROOT)
TIMEOUT = 5  # seconds per cell: the broken submission's endless loop


def _copy_course(dest: Path) -> Path:
    for folder in ("solutions", "notebooks"):
        shutil.copytree(FIXTURE / folder, dest / folder)
    return dest


@pytest.fixture
def course(tmp_path):
    """A scratch copy of the fixture course to plant faults in."""
    return _copy_course(tmp_path / "course")


def _edit(path: Path, cell_id: str, edit) -> None:
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if c.get("id") == cell_id)
    cell.source = edit(cell.source)
    nbformat.write(nb, str(path))


def _solution(root: Path) -> Path:
    return root / "solutions" / NAME / f"{NAME}.ipynb"


def _student(root: Path) -> Path:
    return root / "notebooks" / NAME / f"{NAME}.ipynb"


# --- configuration -------------------------------------------------------------------------------


def test_config_puts_every_working_folder_under_grading(tmp_path):
    cd = grading.course_config(tmp_path).CourseDirectory
    assert (cd.source_directory, cd.release_directory) == ("solutions", "notebooks")
    for folder in (cd.submitted_directory, cd.autograded_directory, cd.feedback_directory):
        assert Path(folder).parts[0] == "_grading"
    assert cd.db_url == f"sqlite:///{tmp_path.resolve() / '_grading' / 'gradebook.db'}"
    assert "_grading/" in (ROOT / ".gitignore").read_text().split()


def test_cell_timeout_is_sized_for_cpu_training_and_overridable(tmp_path, monkeypatch):
    monkeypatch.delenv("PEFT_COURSE_CELL_TIMEOUT", raising=False)
    cfg = grading.course_config(tmp_path)
    assert cfg.Execute.timeout >= 600 and cfg.Execute.interrupt_on_timeout
    assert cfg.Execute.kernel_name == "python3"
    monkeypatch.setenv("PEFT_COURSE_CELL_TIMEOUT", "7")
    assert grading.course_config(tmp_path).Execute.timeout == 7
    assert grading.course_config(tmp_path, timeout=3).Execute.timeout == 3


# --- static checks on the real course (fast; the executing ones are in test_notebooks.py) --------


@pytest.mark.parametrize("name", COURSE)
def test_course_notebook_follows_the_authoring_contract(name):
    assert grading.lint_notebook(ROOT / "solutions" / name / f"{name}.ipynb") == []


@pytest.mark.parametrize("name", COURSE)
def test_student_notebook_leaks_no_solution_or_output(name):
    assert [p for p in grading.leak_problems(ROOT) if f"notebooks/{name}" in p] == []


def test_release_reproduces_the_committed_student_notebooks():
    if not COURSE:
        pytest.skip("no notebooks in solutions/ yet")
    assert grading.regenerate_problems(ROOT) == []


# --- the pipeline on the fixture course ----------------------------------------------------------


def test_fixture_course_passes_the_static_checks():
    assert grading.regenerate_problems(FIXTURE) == []
    assert grading.leak_problems(FIXTURE) == []
    assert grading.lint_problems(FIXTURE) == []


def test_release_is_deterministic_and_keeps_cell_ids(course):
    before = _student(course).read_bytes()
    assert grading.release(course) == [NAME]
    assert _student(course).read_bytes() == before
    released = nbformat.read(_student(course), as_version=4)
    source = nbformat.read(_solution(course), as_version=4)
    assert [c.id for c in released.cells] == [c.id for c in source.cells]
    assert set(released.metadata) == {"kernelspec", "language_info"}
    assert all(not c.get("outputs") for c in released.cells)


def test_release_removes_student_notebooks_whose_source_is_gone(course):
    shutil.copytree(course / "notebooks" / NAME, course / "notebooks" / "99_old_topic")
    (course / "notebooks" / "99_old_topic" / f"{NAME}.ipynb").rename(
        course / "notebooks" / "99_old_topic" / "99_old_topic.ipynb"
    )
    assert any("99_old_topic" in p for p in grading.regenerate_problems(course))
    grading.release(course)
    assert not (course / "notebooks" / "99_old_topic").exists()


# --- planted faults: static ------------------------------------------------------------------------


def test_catches_a_hand_edited_student_notebook(course):
    _edit(_student(course), "00-ex1", lambda s: s + "\n\nHint: divide.")
    problems = grading.regenerate_problems(course)
    assert len(problems) == 1 and "cell 4 '00-ex1'" in problems[0]


def test_catches_a_solution_line_pasted_into_a_student_notebook(course):
    _edit(
        _student(course),
        "00-ex2-solution",
        lambda s: s.replace("raise NotImplementedError()", "return r * (d_in + d_out)"),
    )
    problems = grading.leak_problems(course)
    assert len(problems) == 1 and "'return r * (d_in + d_out)'" in problems[0]


def test_catches_markers_and_outputs_in_a_student_notebook(course):
    nb = nbformat.read(_student(course), as_version=4)
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="python: 3")]
    nb.cells[6].source += "\n### BEGIN HIDDEN TESTS\n### END HIDDEN TESTS"
    nbformat.write(nb, str(_student(course)))
    problems = grading.leak_problems(course)
    assert any("'00-setup' has outputs" in p for p in problems)
    assert any("'00-ex1-tests' contains the marker 'BEGIN HIDDEN TESTS'" in p for p in problems)


@pytest.mark.parametrize(
    ("cell_id", "edit", "expected"),
    [
        ("00-title", lambda s: s.split("\n")[0], "Colab badge"),
        ("00-objectives", lambda s: s.rsplit("\n", 2)[0], "3-5 bullets"),
        ("00-ex3", lambda s: s.replace("(stretch)", "(hard)"), "not labelled"),
        ("00-ex3", lambda s: s.replace("(stretch)", "(stretch, graded)"), "not labelled"),
        (
            "00-ex3",
            lambda s: s.replace("(stretch)", "(stretch, guided)"),
            "a guided exercise must be easy",
        ),
        ("00-next", lambda s: s.replace("## Next steps", "## What now"), "'## Next steps'"),
        ("00-setup", lambda s: s.replace("print(environment_report())", "pass"), "setup cell"),
    ],
)
def test_lint_catches_a_broken_contract(course, cell_id, edit, expected):
    _edit(_solution(course), cell_id, edit)
    problems = grading.lint_problems(course)
    assert any(expected in p for p in problems), problems


def test_lint_catches_unstable_ids_and_too_few_exercises(course):
    nb = nbformat.read(_solution(course), as_version=4)
    nb.cells[1].id = "objectives"  # no '00-' prefix
    nb.cells = [c for c in nb.cells if not c.id.startswith("00-ex3")]
    nb.metadata.kernelspec.name = "python3.11"
    nbformat.write(nb, str(_solution(course)))
    problems = "\n".join(grading.lint_problems(course))
    assert "'objectives' is not a stable" in problems
    assert "needs >= 3 graded exercises" in problems and "kernelspec" in problems


# --- executing the fixture: clean run, partial and broken submissions -------------------------------


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    """One nbgrader autograde call over the solutions, the blank notebook and two submissions."""
    course = _copy_course(tmp_path_factory.mktemp("clean"))
    extra = {s: FIXTURE / "submissions" / s for s in ("partial", "broken")}
    result = grading.self_check(course, TIMEOUT, tmp_path_factory.mktemp("work"), extra)
    result["scores"] = {
        s: {c.name: (c.score, c.max_score) for c in cells}
        for (s, _), cells in grading.scores(result["work"]).items()
    }
    return result


def test_fixture_course_passes_every_check(clean_run):
    assert clean_run["problems"] == []
    assert clean_run["executed"] == 4
    assert clean_run["solution_full"] == clean_run["solution_tests"] == 3
    assert clean_run["blank_zero"] == clean_run["blank_tests"] == 3


def test_partial_submission_gets_partial_credit(clean_run):
    # exercise 2 passes its visible assert (a square layer) and fails the hidden ones
    assert clean_run["scores"]["partial"] == {
        "00-ex1-tests": (1, 1),
        "00-ex2-tests": (0, 2),
        "00-ex3-tests": (3, 3),
    }


def test_endless_loop_and_crash_score_zero_and_the_rest_is_graded(clean_run):
    assert clean_run["scores"]["broken"] == {
        "00-ex1-tests": (0, 1),
        "00-ex2-tests": (0, 2),
        "00-ex3-tests": (3, 3),
    }
    outputs = grading.cell_outputs(clean_run["work"], "broken", NAME)
    assert "CellTimeoutError" in outputs["00-ex1-solution"]["errors"]  # interrupted after TIMEOUT
    assert outputs["00-ex2-solution"]["errors"] == ["ValueError"]
    assert outputs["00-ex3-solution"]["errors"] == []


def test_score_table_and_feedback(clean_run):
    table = grading.score_table(clean_run["work"]).splitlines()
    assert table[0].split() == ["student", NAME, "total"]
    rows = {line.split()[0]: line.split(maxsplit=1)[1] for line in table[2:]}
    assert rows["partial"].split()[:3] == ["4", "/", "6"]
    assert rows["broken"].split()[:3] == ["3", "/", "6"]
    html = grading.feedback(clean_run["work"], student="partial")
    assert [p.parent.parent.name for p in html] == ["partial"]
    assert "00-ex2-tests" in html[0].read_text()


def test_blank_notebooks_graded_side_by_side_each_in_its_own_course(tmp_path):
    """make test's path (`check --blank`): two notebooks autograded at once in worker processes,
    each in a scratch course of its own; a test that passes on the blank notebook is still caught."""
    course = _copy_course(tmp_path / "course")
    copy = "01_grading_copy"  # a second notebook, so that two run at the same time
    (course / "solutions" / copy).mkdir()
    shutil.copy(_solution(course), course / "solutions" / copy / f"{copy}.ipynb")
    _edit(
        _solution(course), "00-ex1-tests", lambda s: "assert 1 + 1 == 2  # passes before any work"
    )
    grading.release(course)
    work = tmp_path / "work"
    result = grading.self_check(course, TIMEOUT, work, solutions=False, workers=2)
    assert result["workers"] == 2
    assert result["where"] == {NAME: work / "blank" / NAME, copy: work / "blank" / copy}
    assert result["blank_tests"] == 6 and result["blank_zero"] == 5
    assert any(f"{NAME}: test 00-ex1-tests gives the blank notebook 1/1" in p
               for p in result["problems"])  # fmt: skip
    assert grading.blank_zero_problems(result["where"][copy], copy) == []


def test_the_notebook_lanes_times_file_carries_the_blank_seconds(tmp_path, monkeypatch):
    from peft_course.grading import nbval_lane
    from peft_course.grading.execute import rows_from_results

    monkeypatch.setattr(nbval_lane, "_SECONDS", {f"solutions/{NAME}/{NAME}.ipynb": 5.04})
    monkeypatch.setattr(nbval_lane, "_FAILED", {f"solutions/{NAME}/{NAME}.ipynb": 0})
    monkeypatch.setattr(nbval_lane, "BLANK_SECONDS", {NAME: 12.4})
    nbval_lane._write_times(tmp_path / "times.json")
    rows, device, blank = rows_from_results(tmp_path / "times.json")
    assert rows == [(NAME, 5.0, True)] and device == "cpu" and blank == {NAME: 12.4}
    monkeypatch.setattr(nbval_lane, "BLANK_SECONDS", {})  # no blank run in the session: no section
    nbval_lane._write_times(tmp_path / "times.json")
    assert "blank" not in json.loads((tmp_path / "times.json").read_text())


def test_blank_workers_start_with_the_longest_recorded_blank_notebook(tmp_path):
    from peft_course.grading.course_check import _longest_first

    names = ["a", "b", "c", "d"]
    (tmp_path / "scripts").mkdir()
    times = {
        "a": {"seconds": 300, "blank_seconds": 60},  # a long solution whose blank run is short
        "b": {"seconds": 280, "blank_seconds": 280},
        "c": {"seconds": 100},  # no blank time recorded yet: its solution's time stands in
    }
    (tmp_path / "scripts" / "notebook_times.json").write_text(json.dumps(times))
    assert _longest_first(tmp_path, names) == ["b", "c", "a", "d"]
    assert _longest_first(tmp_path / "nowhere", names) == names  # no file: as given


# --- executing the fixture: planted faults ----------------------------------------------------------


@pytest.fixture(scope="module")
def planted_run(tmp_path_factory):
    """The fixture course with three faults, one per exercise, re-released so that only the
    executing checks can see them; one autograde call."""
    course = _copy_course(tmp_path_factory.mktemp("planted"))
    sol = _solution(course)
    _edit(
        sol,
        "00-ex1-tests",
        lambda s: (
            "assert 1 + 1 == 2  # passes before any work\n"
            "### BEGIN HIDDEN TESTS\n### END HIDDEN TESTS"
        ),
    )
    _edit(
        sol,
        "00-ex2-solution",
        lambda s: s.replace("return r * (d_in + d_out)", 'raise RuntimeError("planted")'),
    )
    _edit(sol, "00-ex3-tests", lambda s: "import warnings\n\nwarnings.warn('planted')\n" + s)
    grading.release(course)
    return grading.self_check(course, TIMEOUT, tmp_path_factory.mktemp("work"))["problems"]


def test_catches_a_graded_test_that_passes_on_the_blank_notebook(planted_run):
    assert any("test 00-ex1-tests gives the blank notebook 1/1" in p for p in planted_run)


def test_catches_a_solution_that_raises(planted_run):
    assert any("cell 00-ex2-solution of solutions raised RuntimeError" in p for p in planted_run)
    assert any("test 00-ex2-tests gives the solutions 0/2" in p for p in planted_run)


def test_catches_a_graded_cell_that_writes_to_stderr(planted_run):
    assert any(
        "test 00-ex3-tests gives the solutions 0/3 (stderr output" in p and "planted" in p
        for p in planted_run
    )


def test_planted_faults_are_the_only_problems(planted_run):
    # the four above, plus the NameError of test 2 that follows the raising solution
    assert len(planted_run) == 5, planted_run
    assert any("cell 00-ex2-tests of solutions raised NameError" in p for p in planted_run)


# --- python -m peft_course.grading course (make course) --------------------------------------------


def test_course_collects_headlines_and_fails_on_an_error(course, capsys):
    _edit(
        _solution(course), "00-ex3-solution", lambda s: s + '\nprint("Headline: merged = adapter")'
    )
    assert main(["course", "--root", str(course)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[-2].split()[0] == NAME and table[-2].endswith("merged = adapter")
    assert table[-1].split()[-2:] == ["1/1", "ran"]
    _edit(
        _solution(course),
        "00-ex2-solution",
        lambda s: s.replace("return r * (d_in + d_out)", 'raise RuntimeError("planted")'),
    )
    assert main(["course", "--root", str(course)]) == 1
    assert "ERROR RuntimeError: planted" in capsys.readouterr().out


def test_course_records_times_of_notebooks_that_ran(course, tmp_path):
    times_file = course / "scripts" / "notebook_times.json"
    times_file.parent.mkdir(exist_ok=True)
    times_file.write_text(
        json.dumps({"99_other": {"cpu": "1 s", "seconds": 1, "how": "x", "gpu": "2 s"}})
    )
    assert main(["course", "--root", str(course), "--record", "fixture run"]) == 0
    times = json.loads(times_file.read_text())
    assert set(times) == {"99_other", NAME}  # merged, the other entry kept
    assert times[NAME]["how"] == "fixture run" and times[NAME]["seconds"] >= 0
    assert times[NAME]["gpu"] == "not measured"
    # a benchmark results file: the failed notebook is not recorded, the other one is
    results = tmp_path / "cpu.json"
    results.write_text(
        json.dumps(
            {
                "course": {
                    "measured": True,
                    "notebooks": [
                        {"name": NAME, "seconds": 75.0, "ok": True},
                        {"name": "99_other", "seconds": 9.0, "ok": False},
                    ],
                }
            }
        )
    )
    assert (
        main(["course", "--root", str(course), "--record-from", str(results), "--record", "bench"])
        == 0
    )
    times = json.loads(times_file.read_text())
    assert times[NAME] == {"cpu": "1.2 min", "seconds": 75, "how": "bench", "gpu": "not measured"}
    assert times["99_other"]["how"] == "x"
    # make test's times file also carries the blank notebooks' seconds: recorded beside
    results.write_text(
        json.dumps(
            {
                "course": {
                    "measured": True,
                    "notebooks": [{"name": NAME, "seconds": 75.0, "ok": True}],
                },
                "blank": {NAME: 12.4, "99_other": 30.0},
            }
        )
    )
    assert (
        main(["course", "--root", str(course), "--record-from", str(results), "--record", "bench"])
        == 0
    )
    times = json.loads(times_file.read_text())
    assert times[NAME]["blank_seconds"] == 12 and times["99_other"]["blank_seconds"] == 30
    assert times[NAME]["seconds"] == 75 and times["99_other"]["seconds"] == 1
    del times[NAME]["blank_seconds"]
    times_file.write_text(json.dumps(times))
    results.write_text(
        json.dumps(
            {
                "machine": {"device": "cuda"},
                "course": {
                    "measured": True,
                    "notebooks": [{"name": NAME, "seconds": 20.0, "ok": True}],
                },
            }
        )
    )
    assert (
        main(["course", "--root", str(course), "--record-from", str(results), "--record", "H100"])
        == 0
    )
    times = json.loads(times_file.read_text())  # a GPU run fills the GPU figure, keeps the CPU's
    assert times[NAME] == {"cpu": "1.2 min", "seconds": 75, "how": "bench", "gpu": "20 s (H100)"}
    with pytest.raises(SystemExit, match="no measured course run"):
        results.write_text(json.dumps({"course": {"measured": False}}))
        main(["course", "--root", str(course), "--record-from", str(results), "--record", "b"])
    with pytest.raises(SystemExit) as exc:  # where it was measured must be said
        main(["course", "--root", str(course), "--record-from", str(results)])
    assert exc.value.code == 2
