"""The embedded model: offline loading, the safetensors cache, quantisation and its fallback."""

import os
import shutil
import subprocess
import sys
import warnings

import pytest
import torch

from peft_course import models
from peft_course.evaluate import generate


def test_embedded_model_answers_offline(model, tokenizer):
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    answer = generate(model, tokenizer, ["What is the capital of France?"], 16, progress=False)[0]
    assert "Paris" in answer


def test_second_load_is_served_from_cache(monkeypatch):
    models.prepare_default_model()  # make sure the cache exists

    def no_gguf():
        raise AssertionError("the GGUF was read again although the cache is valid")

    monkeypatch.setattr(models, "_gguf_path", no_gguf)
    assert models.prepare_default_model() == models.cache_dir()
    tokenizer = models.load_tokenizer()
    assert tokenizer.padding_side == "left" and tokenizer.pad_token is not None


def test_hub_name_offline_gives_clear_error():
    code = (
        "from peft_course.models import load_model\n"
        "load_model('HuggingFaceTB/SmolLM2-360M-Instruct')\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "ModelUnavailableError" in proc.stderr
    assert "SmolLM2-360M-Instruct" in proc.stderr  # names what failed
    assert "load_model() with no name" in proc.stderr  # and says what to do


def test_only_safetensors_and_no_remote_code_by_default(monkeypatch):
    seen = {}

    def fake_from_pretrained(path, **kwargs):
        seen.update(kwargs)
        raise RuntimeError("stop here")

    monkeypatch.setattr(models.AutoModelForCausalLM, "from_pretrained", fake_from_pretrained)
    monkeypatch.setattr(models, "prepare_default_model", lambda force=False: models.cache_dir())
    with pytest.raises(RuntimeError), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        models.load_model()
    assert seen["use_safetensors"] is True
    assert seen["trust_remote_code"] is False


@pytest.mark.slow
def test_missing_and_corrupt_cache_are_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("PEFT_COURSE_CACHE", str(tmp_path))
    folder = models.prepare_default_model()  # missing -> built
    assert (folder / "model.safetensors").is_file()
    # corrupt the header but keep the size: the size check passes, loading fails -> rebuilt
    weights = folder / "model.safetensors"
    with open(weights, "r+b") as f:
        f.write(b"\xff" * 64)
    with pytest.warns(UserWarning, match="rebuilding"):
        model = models.load_model()
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    # truncated file: the size check alone marks the cache invalid, and an invalid cache is
    # converted again like the missing one above (the same branch of _prepare_embedded)
    assert models._cache_is_valid(folder)
    with open(weights, "r+b") as f:
        f.truncate(1000)
    assert not models._cache_is_valid(folder)
    # an interrupted conversion leaves no half-written cache behind
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".convert-")]
    shutil.rmtree(tmp_path)


def test_8bit_footprint_is_under_045_of_fp32(model):
    quantised = models.load_model(load_in_8bit=True)
    ratio = models.footprint_mib(quantised) / models.footprint_mib(model)
    print(f"8-bit / fp32 footprint: {ratio:.3f}")
    assert ratio <= 0.45
    assert any("Linear8bitLt" in type(m).__name__ for m in quantised.modules())


def test_missing_bitsandbytes_warns_and_falls_back(monkeypatch):
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # import now raises ImportError
    with pytest.warns(UserWarning, match="Falling back to full precision"):
        model = models.load_model(load_in_8bit=True)
    assert next(model.parameters()).dtype == torch.float32
    assert not any("Linear8bitLt" in type(m).__name__ for m in model.modules())


def test_quantisation_on_mps_falls_back(monkeypatch):
    with pytest.warns(UserWarning, match="MPS"):
        assert models.quantization_config(load_in_4bit=True, device=torch.device("mps")) is None
    with pytest.raises(ValueError, match="not both"):
        models.quantization_config(True, True, torch.device("cpu"))
