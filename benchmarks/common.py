"""Shared pieces of the benchmarks: the configurations, model loading, LoRA set-up, JSON output."""

from __future__ import annotations

import json
import logging
import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT / "src"))

# Training configurations compared in section 1, in the order the table shows them.
# quant: None (fp32 base), "8bit" or "4bit" (bitsandbytes); lora: None (full fine-tuning),
# "peft" (PEFT's LoraConfig) or "scratch" (peft_course.lora, the LoRA of notebook 02).
TRAIN_CONFIGS = {
    "full": {"label": "full fine-tuning", "lora": None, "quant": None},
    "lora_qv": {"label": "LoRA q,v r=8", "lora": "peft", "targets": ["q_proj", "v_proj"], "r": 8},
    "lora_all": {"label": "LoRA all-linear r=16", "lora": "peft", "targets": "all-linear", "r": 16},
    "lora_qv_8bit": {
        "label": "8-bit base + LoRA q,v r=8", "lora": "peft", "targets": ["q_proj", "v_proj"],
        "r": 8, "quant": "8bit",
    },
    "lora_qv_4bit": {
        "label": "4-bit base + LoRA q,v r=8", "lora": "peft", "targets": ["q_proj", "v_proj"],
        "r": 8, "quant": "4bit",
    },
    "scratch_qv": {
        "label": "scratch LoRA q,v r=8 (nb 02)", "lora": "scratch",
        "targets": ["q_proj", "v_proj"], "r": 8,
    },
}


def quiet() -> None:
    """Silence the per-matmul cast messages of bitsandbytes on CPU and library chatter."""
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import transformers

    transformers.logging.set_verbosity_error()
    import warnings

    warnings.filterwarnings("ignore")


def device_slug(device, name: str) -> str:
    """Results file stem: ``cpu``, ``mps`` or ``cuda-<gpu name>``."""
    if device.type != "cuda":
        return device.type
    return "cuda-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def load_base(model_path: str | None, quant: str | None = None):
    """Load the base model on the course device (fp32, or 8-bit/4-bit with bitsandbytes).

    Returns (model, applied): ``applied`` is False when quantisation was asked for but the
    device cannot do it (peft_course then falls back to full precision with a warning).
    """
    from peft_course.models import load_model

    model = load_model(model_path, load_in_8bit=quant == "8bit", load_in_4bit=quant == "4bit")
    applied = quant is None or bool(
        getattr(model, "is_loaded_in_8bit" if quant == "8bit" else "is_loaded_in_4bit", False)
    )
    return model, applied


def add_lora(model, kind: str, targets, r: int, init_lora_weights=True):
    """Wrap ``model`` with LoRA (lora_alpha = 2 r): PEFT's, or the scratch one of notebook 02."""
    if kind == "peft":
        from peft import LoraConfig, get_peft_model

        cfg = LoraConfig(
            r=r, lora_alpha=2 * r, lora_dropout=0.0, target_modules=targets,
            init_lora_weights=init_lora_weights, task_type="CAUSAL_LM",
        )
        return get_peft_model(model, cfg)
    if kind == "scratch":
        from peft_course.lora import inject_lora  # also freezes everything but lora_A/lora_B

        inject_lora(model, targets, r=r, lora_alpha=2 * r, lora_dropout=0.0)
        return model
    raise ValueError(f"unknown LoRA kind {kind!r}")


def random_batch(vocab_size: int, batch: int, seq: int, device, seed: int = 0):
    """Token ids (batch, seq) drawn from a fixed generator: every configuration sees the same."""
    import torch

    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab_size, (batch, seq), generator=g).to(device)


def median(xs):
    return float(statistics.median(xs)) if xs else None


def write_json(path: str | Path, data: dict) -> None:
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


T0 = time.perf_counter()


def say(msg: str) -> None:
    """A progress line with the seconds since the benchmark started."""
    print(f"[{time.perf_counter() - T0:6.0f}s] {msg}", flush=True)


def bitsandbytes_version() -> str:
    """The installed bitsandbytes version, or why it cannot be used."""
    try:
        import bitsandbytes

        return bitsandbytes.__version__
    except Exception:  # missing, or a broken native library
        return "not usable"
