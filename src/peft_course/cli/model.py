"""`train-lora` model checks done before any weights load (the path or offline hub id, the target
modules on a weightless meta-device copy, whether 8-bit/4-bit can run here), and the load itself."""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass

from ..lora import matches_target
from ..models import ModelUnavailableError, resolve_model
from .args import RunArguments, UsageError


@dataclass
class ModelCheck:
    """What the checks found: the folder or hub id to load and the quantisation that can run."""

    path: str
    embedded: bool
    load_in_8bit: bool
    load_in_4bit: bool
    quantization_warning: str | None


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


def check_targets(targets: list[str] | str, modules: list[str] | None) -> None:
    """Every target must name a module of the model (PEFT's matching rule, `lora.matches_target`)."""
    if modules is None or targets == "all-linear":
        return
    missing = [t for t in targets if not any(matches_target(m, [t]) for m in modules)]
    if missing:
        have = sorted({m.rsplit(".", 1)[-1] for m in modules})
        raise UsageError(
            f"--target-modules {','.join(targets)}: the model has no module named "
            f"{', '.join(missing)}. It has: {', '.join(have)} (or use a set: "
            "minimal, attention, all, all-linear)"
        )


def quantization_fallback(load_in_8bit: bool, load_in_4bit: bool) -> tuple[bool, bool, str | None]:
    """(8-bit, 4-bit, warning): where bitsandbytes cannot run, a warning and full precision."""
    if not (load_in_8bit or load_in_4bit):
        return False, False, None
    from ..models import quantization_config

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config = quantization_config(load_in_8bit, load_in_4bit)
    if config is not None:
        return load_in_8bit, load_in_4bit, None
    message = str(caught[0].message) if caught else "quantisation is unavailable here"
    print(f"train-lora: warning: {message}", file=sys.stderr)
    return False, False, message


def check_model(args: RunArguments) -> ModelCheck:
    """Everything about the model that can be checked without its weights."""
    try:
        path, embedded = resolve_model(args.model.model)
    except ModelUnavailableError as err:
        raise UsageError(f"--model: {err}") from err
    check_targets(args.train.target_modules, adaptable_modules(path))
    in8, in4, warning = quantization_fallback(args.model.load_in_8bit, args.model.load_in_4bit)
    return ModelCheck(path, embedded, in8, in4, warning)


def load(check: ModelCheck):
    """The base model for this process: one GPU per process under torchrun / accelerate launch,
    on the CPU when FSDP / DeepSpeed shard it."""
    import torch

    from ..device import get_device, get_dtype
    from ..models import load_model

    device = get_device()
    quantized = check.load_in_8bit or check.load_in_4bit
    device_map = None
    sharded = any(
        os.environ.get(f"ACCELERATE_USE_{k}", "").lower() in ("1", "true")
        for k in ("FSDP", "DEEPSPEED")
    )
    if sharded and not quantized:
        device_map = {"": "cpu"}  # FSDP / DeepSpeed shard it onto the GPUs, not one whole copy
    elif device.type == "cuda":
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local_rank)
        device_map = {"": local_rank} if quantized else None
    return load_model(
        check.path,
        dtype=None if quantized else get_dtype(device),
        device_map=device_map,
        load_in_8bit=check.load_in_8bit,
        load_in_4bit=check.load_in_4bit,
    )
