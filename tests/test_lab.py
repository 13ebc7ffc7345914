"""`make lab`'s first screen (issue 12): the repo-local Lab defaults open Markdown as its rendered
preview (README.md, the default URL, shows headings and the notebook table, not raw Markdown) and
turn off the Jupyter-news pop-up. The settings live in jupyter/labconfig/, which `make lab` puts on
JUPYTER_CONFIG_PATH; nothing is written to ~/.jupyter or the venv. Fast, no server, no browser."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAB_CONFIG = REPO / "jupyter"
OVERRIDES = LAB_CONFIG / "labconfig" / "default_setting_overrides.json"
EXPECTED = {
    "@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"markdown": "Markdown Preview"}},
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False},
}


def test_overrides_file_says_what_the_first_screen_needs():
    assert json.loads(OVERRIDES.read_text(encoding="utf-8")) == EXPECTED


def test_overrides_match_the_installed_lab_schemas():
    """Plugin ids, setting names and values exist in this JupyterLab (a typo is silently ignored)."""
    jsonschema = pytest.importorskip("jsonschema")
    schemas = Path(sys.prefix) / "share" / "jupyter" / "lab" / "schemas"
    if not schemas.is_dir():
        pytest.skip("JupyterLab is not installed in this environment")
    for plugin_id, values in EXPECTED.items():
        package, plugin = plugin_id.split(":")
        schema = json.loads((schemas / package / f"{plugin}.json").read_text(encoding="utf-8"))
        for name, value in values.items():
            assert name in schema["properties"], f"{plugin_id} has no setting {name!r}"
            jsonschema.validate(value, schema["properties"][name])


def test_jupyterlab_server_reads_the_overrides(monkeypatch, tmp_path):
    """The same lookup the Lab server does at start-up, with JUPYTER_CONFIG_PATH as `make lab` sets."""
    settings_utils = pytest.importorskip("jupyterlab_server.settings_utils")
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(LAB_CONFIG))
    overrides, error = settings_utils._get_overrides(str(tmp_path))  # empty app settings dir
    assert not error
    for plugin_id, values in EXPECTED.items():
        assert overrides[plugin_id] == values


def _make_n_lab(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    clean.pop("JUPYTER_CONFIG_PATH", None)
    result = subprocess.run(
        ["make", "-n", "--no-print-directory", "lab"],
        cwd=REPO,
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_lab_passes_the_repo_settings():
    dry_run = _make_n_lab()
    assert f"JUPYTER_CONFIG_PATH={LAB_CONFIG} " in dry_run
    assert "jupyter lab --no-browser" in dry_run
    assert "--LabApp.default_url=/lab/tree/README.md" in dry_run
    # a learner's own JUPYTER_CONFIG_PATH is kept, after the course's
    assert f"JUPYTER_CONFIG_PATH={LAB_CONFIG}:/elsewhere " in _make_n_lab(
        JUPYTER_CONFIG_PATH="/elsewhere"
    )
