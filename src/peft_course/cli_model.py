"""`train-lora` model checks done before any weights load: path or offline hub id, target
modules (from a weightless meta-device copy), and whether 8-bit/4-bit can run here."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

from .cli_data import UsageError
from .models import DEFAULT_MODEL, ModelUnavailableError, model_name, prepare_default_model
from .train import TARGET_SETS


def _offline() -> bool:
    flags = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("TRANSFORMERS_OFFLINE", ""))
    return any(f.strip().lower() in ("1", "true", "yes", "on") for f in flags)


def resolve_model(name: str | None) -> tuple[str, bool]:
    """(local folder or hub id, is_embedded); a ``UsageError`` when it cannot be had."""
    name = name or model_name()
    if name in (DEFAULT_MODEL, f"HuggingFaceTB/{DEFAULT_MODEL}") and not Path(name).exists():
        try:
            return str(prepare_default_model()), True
        except ModelUnavailableError as err:
            raise UsageError(f"--model: {err}") from err
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UsageError(f"--model {name}: the folder has no config.json; give a folder "
                               "written by save_pretrained (config.json + *.safetensors)")
        return str(path), False
    if path.exists() or name.startswith((".", "/", "~")) or name.count("/") != 1:
        raise UsageError(f"--model {name}: no such model folder, and not a hub id of the form "
                           "owner/name; check the path, or leave --model out for the embedded "
                           f"{DEFAULT_MODEL}")
    if _offline():
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(name, "config.json"), str):
            raise UsageError(
                f"--model {name} is a hub id, but HF_HUB_OFFLINE=1 forbids downloading it and it "
                "is not in the local cache. Download it where the hub is reachable "
                f"(`hf download {name}`), pass a local folder, or leave --model out to use the "
                f"embedded {DEFAULT_MODEL}.")
    return name, False


def adaptable_modules(path: str) -> list[str] | None:
    """Full names of the Linear/Embedding/Conv1D modules LoRA can wrap, found on a weightless
    meta-device model (no download of weights); None where the architecture cannot be built."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.pytorch_utils import Conv1D

    try:
        config = AutoConfig.from_pretrained(path)
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config)
    except Exception:  # unknown architecture, remote code: let PEFT check later
        return None
    kinds = (torch.nn.Linear, torch.nn.Embedding, Conv1D)
    return [n for n, m in model.named_modules() if n and isinstance(m, kinds)]


def expand_targets(spec: str) -> list[str] | str:
    """A set name, ``all-linear``, or comma-separated module names."""
    if spec in TARGET_SETS:
        return list(TARGET_SETS[spec])
    if spec == "all-linear":
        return spec
    return [t.strip() for t in spec.split(",") if t.strip()]


def check_targets(targets: list[str] | str, modules: list[str] | None, spec: str) -> None:
    if modules is None or targets == "all-linear":
        return
    if not targets:
        raise UsageError("--target-modules is empty; give module names or minimal, attention, "
                           "all, all-linear")
    missing = [t for t in targets if not any(m == t or m.endswith("." + t) for m in modules)]
    if missing:
        have = sorted({m.rsplit(".", 1)[-1] for m in modules})
        raise UsageError(f"--target-modules {spec}: the model has no module named "
                           f"{', '.join(missing)}. It has: {', '.join(have)} (or use a set: "
                           "minimal, attention, all, all-linear)")


def quantization_fallback(load_in_8bit: bool, load_in_4bit: bool) -> tuple[bool, bool, str | None]:
    """(8-bit, 4-bit, warning): where bitsandbytes cannot run, a warning and full precision."""
    if not (load_in_8bit or load_in_4bit):
        return False, False, None
    from .models import quantization_config

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config = quantization_config(load_in_8bit, load_in_4bit)
    if config is not None:
        return load_in_8bit, load_in_4bit, None
    message = str(caught[0].message) if caught else "quantisation is unavailable here"
    print(f"train-lora: warning: {message}", file=sys.stderr)
    return False, False, message


def check_model(s: dict) -> dict:
    """Everything about the model that can be checked without its weights."""
    path, embedded = resolve_model(s["model"])
    targets = expand_targets(s["target_modules"])
    check_targets(targets, adaptable_modules(path), s["target_modules"])
    in8, in4, warning = quantization_fallback(s["load_in_8bit"], s["load_in_4bit"])
    return {"path": path, "embedded": embedded, "targets": targets, "load_in_8bit": in8,
            "load_in_4bit": in4, "quantization_warning": warning}
