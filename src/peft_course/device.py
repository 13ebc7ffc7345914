"""Device and dtype choice, seeding, and the environment report every notebook prints."""

from __future__ import annotations

import os
import platform
import random
import sys
from dataclasses import dataclass

import numpy as np
import torch


def get_device() -> torch.device:
    """Pick the best available device: CUDA, then Apple MPS, then CPU.

    ``PEFT_COURSE_DEVICE`` (``cpu``, ``cuda``, ``mps``) overrides the choice.

    Introduced in 01_peft_taxonomy.
    """
    forced = os.environ.get("PEFT_COURSE_DEVICE")
    if forced:
        return torch.device(forced)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def get_dtype(device: torch.device | str | None = None) -> torch.dtype:
    """Training dtype for ``device``: bf16 on GPUs that support it (Ampere+), fp16 on older
    CUDA GPUs, fp32 on MPS and CPU (bf16 autocast on CPU was ~1.7x slower here).

    Introduced in 01_peft_taxonomy.
    """
    device = torch.device(device) if device is not None else get_device()
    if device.type == "cuda":
        return torch.float16 if half_unavailable(torch.bfloat16, device) else torch.bfloat16
    return torch.float32


def disabled_features() -> set[str]:
    """Capabilities switched off by ``PEFT_COURSE_DISABLE`` (comma-separated: ``bitsandbytes``,
    ``bf16``), to run the fallback paths on a machine that has them. Introduced in 07_merging."""
    return {
        f.strip().lower() for f in os.environ.get("PEFT_COURSE_DISABLE", "").split(",") if f.strip()
    }


def half_unavailable(dtype: torch.dtype, device: torch.device | str | None = None) -> str | None:
    """Why ``dtype`` (bf16 or fp16) cannot be used on ``device``, or None where it can: bf16 needs
    a GPU generation that has it (a T4 has not); CPUs and MPS run both.

    Introduced in 07_merging.
    """
    device = torch.device(device) if device is not None else get_device()
    name = {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, str(dtype))
    if name in disabled_features():
        return f"{name} switched off by PEFT_COURSE_DISABLE"
    if dtype == torch.bfloat16 and device.type == "cuda":
        if not torch.cuda.is_bf16_supported(including_emulation=False):
            return "this GPU has no bf16 (it came with compute capability 8.0, e.g. the A100)"
    return None


def mixed_precision(device: torch.device | str | None = None) -> dict[str, bool]:
    """The ``bf16``/``fp16`` flags of ``TrainingArguments`` (and TRL's ``SFTConfig``/``DPOConfig``)
    for ``device``: the one place the course chooses its training precision.

    bf16 autocast where the GPU supports it; fp16 autocast with loss scaling (the Trainer's
    gradient scaler) on older CUDA GPUs such as Colab's T4; neither on MPS and CPU, where the
    course trains in fp32. The weights stay fp32 in every case (mixed precision, not half weights).

    Introduced in 04_lora_sft.
    """
    half = get_dtype(device)
    return {"bf16": half == torch.bfloat16, "fp16": half == torch.float16}


def is_colab() -> bool:
    """True inside Google Colab. Introduced in 01_peft_taxonomy."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def set_seed(seed: int = 0) -> None:
    """Seed python, numpy and torch (and every CUDA device when present).

    Introduced in 01_peft_taxonomy.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def steps_for_device(cpu: int, gpu: int, device: torch.device | str | None = None) -> int:
    """Step counts sized to the device: the same code trains longer where it is cheap.

    ``PEFT_COURSE_STEPS_SCALE`` (a float, default 1) scales the count, e.g. for a quick dry run.

    Introduced in 02_lora_from_scratch.
    """
    device = torch.device(device) if device is not None else get_device()
    steps = gpu if device.type in ("cuda", "mps") else cpu
    scale = float(os.environ.get("PEFT_COURSE_STEPS_SCALE", "1"))
    return max(1, round(steps * scale))


def memory_gib() -> tuple[float, float]:
    """(total, available) system memory in GiB."""
    import psutil

    vm = psutil.virtual_memory()
    return vm.total / 2**30, vm.available / 2**30


@dataclass
class EnvReport:
    python: str
    torch: str
    transformers: str
    peft: str
    trl: str
    device: str
    device_name: str
    dtype: str
    cpu_threads: int
    ram_gib: float
    accelerator_gib: float | None

    def __str__(self) -> str:
        acc = f"{self.accelerator_gib:.1f} GiB" if self.accelerator_gib else "-"
        rows = [
            ("python", self.python),
            ("torch", self.torch),
            ("transformers", self.transformers),
            ("peft", self.peft),
            ("trl", self.trl),
            ("device", f"{self.device} ({self.device_name})"),
            ("dtype", self.dtype),
            ("cpu threads", str(self.cpu_threads)),
            ("RAM", f"{self.ram_gib:.1f} GiB"),
            ("accelerator memory", acc),
        ]
        return "\n".join(f"{k:>18}: {v}" for k, v in rows)


def environment_report() -> EnvReport:
    """Versions, device and memory: printed by every notebook's setup cell.

    Introduced in 01_peft_taxonomy.
    """
    import peft
    import transformers

    try:
        import trl

        trl_version = trl.__version__
    except ImportError:
        trl_version = "not installed"
    device = get_device()
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        acc = torch.cuda.get_device_properties(device).total_memory / 2**30
    elif device.type == "mps":
        name, acc = "Apple GPU", None
    else:
        name, acc = platform.processor() or platform.machine(), None
    return EnvReport(
        python=platform.python_version(),
        torch=torch.__version__,
        transformers=transformers.__version__,
        peft=peft.__version__,
        trl=trl_version,
        device=device.type,
        device_name=name,
        dtype=str(get_dtype(device)).replace("torch.", ""),
        cpu_threads=torch.get_num_threads(),
        ram_gib=memory_gib()[0],
        accelerator_gib=acc,
    )


def is_main_process() -> bool:
    """True on rank 0 of torchrun / accelerate launch, and in a single process: the one that
    writes files. Plumbing for `train-lora` and `train.train_lora`."""
    return int(os.environ.get("RANK", "0")) == 0
