"""The adapters the course ships (adapters/): their cards, their base-model reference, and the
hub-cache registration that lets that reference (the hub id) load the embedded model offline."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from peft_course import models
from peft_course.hub_cache import embedded_revision, register_snapshot
from peft_course.models import HUB_ID

ROOT = Path(__file__).resolve().parents[1]
ADAPTERS = ("extract", "sentiment")
MARKER = "marker.json"
NOBODY = 65534


@pytest.mark.parametrize("task", ADAPTERS)
def test_shipped_adapter_names_the_hub_id_and_has_a_measured_card(task):
    folder = ROOT / "adapters" / task
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == HUB_ID
    info = json.loads((folder / "training_info.json").read_text())
    card = (folder / "README.md").read_text()
    assert "[More Information Needed]" not in card
    assert f"base_model: {HUB_ID}" in card and "license: apache-2.0" in card
    measured = re.search(r"Test exact match: \*\*([0-9.]+)\*\*", card)
    assert measured, "the card does not state the test exact match"
    assert measured.group(1) == f"{info['test_exact_match']:.2f}"
    assert info["config"]["max_steps"] == info["steps"] == 40
    assert f"{info['steps']} optimizer steps" in card and info["command"] in card


def test_cards_are_made_from_the_runs_record(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    from make_adapters import model_card

    for task in ADAPTERS:
        folder = ROOT / "adapters" / task
        info = json.loads((folder / "training_info.json").read_text())
        assert (folder / "README.md").read_text() == model_card(info), (
            f"adapters/{task}/README.md is stale: `python scripts/make_adapters.py --card-only`"
        )


# --- the registration, on small fake files ---------------------------------------------------


def _fake_cache(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name, text in (
        ("config.json", "{}"),
        ("model.safetensors", "weights"),
        (MARKER, '{"source": "test"}'),
    ):
        (folder / name).write_text(text)
    return folder


def _storage(hub: Path) -> Path:
    return hub / "models--HuggingFaceTB--SmolLM2-135M-Instruct"


def test_registration_follows_the_hub_layout_and_is_idempotent(tmp_path):
    cache, hub = _fake_cache(tmp_path / "cache"), tmp_path / "hub"
    snapshot = register_snapshot(cache, HUB_ID, marker=MARKER, hub_cache=hub)
    revision = embedded_revision(HUB_ID)
    assert re.fullmatch(r"[0-9a-f]{40}", revision)
    assert snapshot == _storage(hub) / "snapshots" / revision
    assert (_storage(hub) / "refs" / "main").read_text() == revision  # no newline: read verbatim
    assert (snapshot / "model.safetensors").read_text() == "weights"
    assert os.path.samefile(snapshot / "config.json", cache / "config.json")

    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(HUB_ID, "config.json", cache_dir=hub)
    assert found == str(snapshot / "config.json")

    before = {p: p.lstat().st_mtime_ns for p in _storage(hub).rglob("*")}
    assert register_snapshot(cache, HUB_ID, marker=MARKER, hub_cache=hub) == snapshot
    assert {p: p.lstat().st_mtime_ns for p in _storage(hub).rglob("*")} == before  # untouched
    assert not [p for p in (_storage(hub) / "snapshots").iterdir() if p.name.startswith(".")]


def test_registration_is_repaired_when_the_cache_moved_or_vanished(tmp_path):
    old, hub = _fake_cache(tmp_path / "old"), tmp_path / "hub"
    snapshot = register_snapshot(old, HUB_ID, marker=MARKER, hub_cache=hub)
    shutil.rmtree(old)
    assert not (snapshot / "config.json").exists()  # dangling links
    new = _fake_cache(tmp_path / "new")
    (new / "tokenizer.json").write_text("tok")  # a file the old cache did not have
    assert register_snapshot(new, HUB_ID, marker=MARKER, hub_cache=hub) == snapshot
    for name in ("config.json", "model.safetensors", MARKER, "tokenizer.json"):
        assert os.path.samefile(snapshot / name, new / name)


def test_without_links_the_files_are_copied_once(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("links are not supported here")

    monkeypatch.setattr(os, "symlink", refuse)
    monkeypatch.setattr(os, "link", refuse)
    cache, hub = _fake_cache(tmp_path / "cache"), tmp_path / "hub"
    snapshot = register_snapshot(cache, HUB_ID, marker=MARKER, hub_cache=hub)
    copy = snapshot / "model.safetensors"
    assert not copy.is_symlink() and copy.read_text() == "weights"
    inode = copy.stat().st_ino
    assert register_snapshot(cache, HUB_ID, marker=MARKER, hub_cache=hub) == snapshot
    assert copy.stat().st_ino == inode  # not copied again


def test_a_real_hub_download_is_left_alone(tmp_path):
    cache, hub = _fake_cache(tmp_path / "cache"), tmp_path / "hub"
    real = _storage(hub) / "snapshots" / ("a" * 40)
    real.mkdir(parents=True)
    (real / "config.json").write_text('{"real": true}')
    (_storage(hub) / "refs").mkdir()
    (_storage(hub) / "refs" / "main").write_text("a" * 40)
    assert register_snapshot(cache, HUB_ID, marker=MARKER, hub_cache=hub) is None
    assert (_storage(hub) / "refs" / "main").read_text() == "a" * 40
    assert sorted(p.name for p in (_storage(hub) / "snapshots").iterdir()) == ["a" * 40]


# --- the shipped adapter, loaded as another user from empty caches ---------------------------

_AS_USER = """
import os, sys, torch
from peft import AutoPeftModelForCausalLM, PeftModel
from transformers import AutoTokenizer
from peft_course.data import chat_prompt
from peft_course.evaluate import extract_match, generate
from peft_course.models import HUB_ID, load_model

folder, prompt, reference = sys.argv[1:]
auto = AutoPeftModelForCausalLM.from_pretrained(folder)  # its base: the hub id, from the cache
tokenizer = AutoTokenizer.from_pretrained(HUB_ID)
course = PeftModel.from_pretrained(load_model(), folder)
ids = tokenizer(chat_prompt(tokenizer, prompt), return_tensors="pt", add_special_tokens=False)
with torch.no_grad():
    diff = (auto(**ids).logits - course(**ids).logits).abs().max().item()  # (1, seq, vocab)
print(f"uid {os.getuid()}: max abs logit difference {diff:.3g}")
assert diff < 1e-4, diff
answer = generate(auto, tokenizer, [prompt], 48, progress=False)[0]
print(f"answer {answer}")
assert extract_match(answer, reference) == 1.0, (answer, reference)
"""


def _as_user_prefix() -> list[str]:
    if os.geteuid() != 0:
        return []  # already not root: run as ourselves
    if shutil.which("setpriv"):
        return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    if shutil.which("runuser"):
        return ["runuser", "-u", "nobody", "--"]
    pytest.skip("running as root and neither setpriv nor runuser exists to switch to user nobody")


@pytest.mark.slow
def test_shipped_adapter_loads_by_hub_id_as_another_user_offline():
    prefix = _as_user_prefix()
    row = json.loads((ROOT / "data" / "extract" / "test.jsonl").read_text().splitlines()[0])
    folders = [Path(tempfile.mkdtemp(prefix=f"adapters-{n}-")) for n in ("home", "cache", "hf")]
    try:
        for folder in folders:
            if prefix:
                os.chown(folder, NOBODY, NOBODY)
        home, cache, hf_home = folders
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "PEFT_COURSE_CACHE": str(cache),
            "HF_HOME": str(hf_home),
            "HF_HUB_OFFLINE": "1",
            "LANG": "C.UTF-8",
        }

        def run(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run(
                [*prefix, sys.executable, *args],
                env=env,
                cwd=home,
                capture_output=True,
                text=True,
                timeout=900,
            )

        check = run("-c", "import peft_course, peft, transformers")
        assert check.returncode == 0, (
            f"the user the test switched to cannot import the course from {sys.executable} "
            f"(are the repository and the venv readable by others?):\n{check.stderr[-2000:]}"
        )
        # the user's cache starts as a copy of this one: converting the GGUF into an empty cache
        # is test_models' job (and `make model`'s); this test is about loading by hub id
        shutil.copytree(models.cache_dir(), cache / models.DEFAULT_MODEL)
        if prefix:
            for path in [cache, *cache.rglob("*")]:
                os.chown(path, NOBODY, NOBODY)
        prepared = run("-m", "peft_course.models")  # finds the valid cache, registers it
        assert prepared.returncode == 0, prepared.stderr[-3000:]
        assert (cache / "SmolLM2-135M-Instruct" / "model.safetensors").is_file()
        loaded = run(
            "-c", _AS_USER, str(ROOT / "adapters" / "extract"), row["prompt"], row["completion"]
        )
        print(loaded.stdout)
        assert loaded.returncode == 0, loaded.stdout + loaded.stderr[-3000:]
        assert f"uid {NOBODY if prefix else os.getuid()}: max abs logit difference" in loaded.stdout
    finally:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
