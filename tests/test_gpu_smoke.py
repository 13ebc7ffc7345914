"""The GPU smoke check's parts: the tiny model, PEFT_COURSE_MODEL on every loading path, and which
notebook errors it tolerates (scripts/gpu_smoke.py, scripts/gpu_smoke_exec.py, docs/gpu.md)."""

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

from peft_course import models

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import gpu_smoke  # noqa: E402
import gpu_smoke_exec  # noqa: E402


@pytest.fixture(scope="module")
def tiny_course_model(tmp_path_factory) -> Path:
    """The smoke's tiny model: 2 layers, the course model's widths and tokenizer."""
    base = tmp_path_factory.mktemp("base")
    source = (
        models.cache_dir()
        if (models.cache_dir() / "tokenizer.json").is_file()
        else (models._prepare_embedded())
    )
    for name in gpu_smoke.BASE_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, base / name)
    target = tmp_path_factory.mktemp("tiny") / "model"
    facts = gpu_smoke.build_tiny_model(base, target, layers=2)
    assert facts["layers"] == 2 and facts["real_layers"] == 30 and facts["hidden_size"] == 576
    return target


def test_tiny_model_loads_through_the_override_and_fits_the_adapters(
    tiny_course_model, monkeypatch
):
    from peft import PeftModel

    monkeypatch.setenv("PEFT_COURSE_MODEL", str(tiny_course_model))
    monkeypatch.setenv("PEFT_COURSE_DEVICE", "cpu")
    model, tokenizer = models.load_model(), models.load_tokenizer()
    cfg = model.config
    assert (cfg.num_hidden_layers, cfg.hidden_size, cfg.intermediate_size) == (2, 576, 1536)
    assert (cfg.num_attention_heads, cfg.num_key_value_heads, cfg.vocab_size) == (9, 3, 49152)
    assert len(tokenizer) == 49152 and tokenizer.padding_side == "left"
    # a shipped adapter (trained on 30 layers) loads: keys of the missing layers are skipped
    peft_model = PeftModel.from_pretrained(model, str(ROOT / "adapters" / "extract"))
    q_proj = peft_model.base_model.model.model.layers[1].self_attn.q_proj
    assert q_proj.lora_B["default"].weight.abs().sum() > 0  # the trained weights arrived
    ids = tokenizer(["Hello"], return_tensors="pt")
    with torch.no_grad():
        assert peft_model(**ids).logits.shape[-1] == 49152


def test_prepare_default_model_follows_a_local_override(tmp_path, monkeypatch):
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    monkeypatch.setattr(models, "_prepare_embedded", lambda force=False: tmp_path / "embedded")
    monkeypatch.delenv("PEFT_COURSE_MODEL", raising=False)
    assert models.prepare_default_model() == tmp_path / "embedded"
    monkeypatch.setenv("PEFT_COURSE_MODEL", str(folder))
    assert models.prepare_default_model() == folder
    assert models.resolve_model() == (str(folder), False)
    # naming the embedded model explicitly still gives the embedded model
    assert models.resolve_model(models.DEFAULT_MODEL) == (str(tmp_path / "embedded"), True)
    # a hub id (no folder) leaves prepare_default_model the embedded cache
    monkeypatch.setenv("PEFT_COURSE_MODEL", "HuggingFaceTB/SmolLM2-360M-Instruct")
    assert models.prepare_default_model() == tmp_path / "embedded"


def _notebook(path: Path, cells: list[str]) -> Path:
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "id": f"c{i}",
                "source": src,
                "metadata": {},
                "outputs": [],
                "execution_count": None,
            }
            for i, src in enumerate(cells)
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb))
    return path


def test_notebook_assertions_are_tolerated_and_errors_are_not(tmp_path, monkeypatch):
    (tmp_path / "libmod.py").write_text("def check():\n    assert False, 'library assert'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    nb = _notebook(
        tmp_path / "nb.ipynb",
        [
            "x = 1\ndef trained():\n    assert False, 'did not learn'\n",
            "assert x == 2, 'exact count of the real model'\ny = x + 1\n",  # y still set
            "score = trained()\n",  # a notebook assertion inside a notebook function
            "print('later cell runs', y)\nz = score + 1\n",  # NameError: consequence of the above
            "raise RuntimeError('CUDA error: device-side assert')\n",
            "w = 5\nimport libmod\nlibmod.check()\n",  # an assert in library code: an error
            "print(undefined_name)\n",  # a NameError of nothing that failed: an error
            "@staticmethod\ndef decorated():\n    pass\nprint(w)\n",  # decorators run with their def
        ],
    )
    report = gpu_smoke_exec.run_notebook(nb, layers=2)
    kinds = [(t["cell"], t["kind"]) for t in report["tolerated"]]
    assert kinds == [("c1", "assertion"), ("c2", "assertion"), ("c3", "consequence")]
    errors = [(e["cell"], e["line"], e["error"].split(":")[0]) for e in report["errors"]]
    assert errors == [
        ("c4", 1, "RuntimeError"),
        ("c5", 3, "AssertionError"),
        ("c6", 1, "NameError"),
    ]
    assert report["cells"] == 8 and report["statements"] == 14
    assert "device-side assert" in report["errors"][0]["traceback"]


def test_only_refused_keys_of_missing_layers_count_as_the_tiny_model():
    def refused(layers):
        keys = ", ".join(
            f"base_model.model.model.layers.{n}.self_attn.q_proj.lora_A.default.weight"
            for n in layers
        )
        return RuntimeError(
            f"Hot swapping the adapter did not succeed, unexpected keys found: {keys}."
        )

    assert gpu_smoke_exec.classify(refused([2, 10, 29]), set(), layers=2) == "tiny-model"
    assert gpu_smoke_exec.classify(refused([1, 10]), set(), layers=2) is None
    assert gpu_smoke_exec.classify(refused([2]), set(), layers=None) is None


def test_exec_main_writes_its_report_and_fails_on_errors(tmp_path):
    nb = _notebook(tmp_path / "ok.ipynb", ["assert 1 == 2\n", "print('fine')\n"])
    assert gpu_smoke_exec.main([str(nb), str(tmp_path / "r.json"), "2"]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["tolerated"][0]["kind"] == "assertion"
    nb = _notebook(tmp_path / "bad.ipynb", ["import no_such_module_here\n"])
    assert gpu_smoke_exec.main([str(nb), str(tmp_path / "r.json")]) == 1


def test_summary_line_names_the_first_error():
    report = {
        "notebook": "06_trl_peft",
        "cells": 3,
        "statements": 9,
        "seconds": 5,
        "tolerated": [{"kind": "assertion"}, {"kind": "assertion"}],
        "errors": [{"cell": "06-memory", "line": 2, "error": "RuntimeError: boom"}],
    }
    line = gpu_smoke.summary_line(report)
    assert line.startswith("FAIL 06_trl_peft") and "2 assertion" in line
    assert "[06-memory line 2] RuntimeError: boom" in line
