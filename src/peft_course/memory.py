"""Process memory: resident set size now and its peak over a block of code (Linux, macOS)."""

from __future__ import annotations

import re
import resource
import sys
from contextlib import contextmanager
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(field: str) -> int | None:
    """A ``VmRSS``/``VmHWM`` line of /proc/self/status in KiB, or None off Linux."""
    try:
        match = re.search(rf"^{field}:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) if match else None


def rss_mib() -> float:
    """Resident set size of this process now, in MiB. Introduced in 06_trl_peft."""
    kib = _status_kib("VmRSS")
    if kib is None:  # macOS and others: psutil knows
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    return kib / 1024


def _peak_mib() -> float:
    kib = _status_kib("VmHWM")
    if kib is not None:
        return kib / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # bytes on macOS, KiB on Linux
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (Linux: write 5 to /proc/self/clear_refs); False where
    the mark cannot be reset, so a later peak may be an earlier, higher one."""
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


class PeakRSS:
    """Result of ``track_peak_rss``: ``start``, ``peak`` (MiB) and ``extra = peak - start``.
    ``exact`` is False where the peak mark could not be reset (then ``peak`` is an upper bound)."""

    def __init__(self):
        self.start = self.peak = self.extra = 0.0
        self.exact = True

    def __repr__(self) -> str:
        return f"PeakRSS(start={self.start:.0f} MiB, peak={self.peak:.0f} MiB, extra={self.extra:.0f} MiB)"


@contextmanager
def track_peak_rss():
    """Measure the peak resident memory of this process while the block runs.

    The peak is the kernel's high-water mark of the whole process (every thread, weights,
    activations, optimizer state, allocator caches), so ``extra`` is what the block added on top
    of what was resident when it started. CPU memory only: GPU memory is not in the RSS.

    Example (``mem.extra`` is in MiB)::

        with track_peak_rss() as mem:
            trainer.train()
        print(mem.extra)

    Introduced in 06_trl_peft.
    """
    result = PeakRSS()
    result.exact = reset_peak()
    result.start = rss_mib()
    try:
        yield result
    finally:
        result.peak = max(_peak_mib(), result.start)
        result.extra = result.peak - result.start


class PeakMemory(PeakRSS):
    """Result of ``track_peak_memory``: as ``PeakRSS``, plus ``counter``, what was measured."""

    counter = "process RSS"


@contextmanager
def track_peak_memory(device=None):
    """Peak memory of the block on ``device`` (default: the course's device), in MiB.

    On CUDA the accelerator's own counters (``torch.cuda.max_memory_allocated``: tensors the
    block allocated on the GPU, weights already there counted in ``start``); elsewhere the peak
    resident memory of the process (``track_peak_rss``; MPS shares the machine's memory, which
    the RSS sees). ``counter`` names what was measured, for the printed table.

    Introduced in 06_trl_peft.
    """
    import torch

    from .device import get_device

    device = torch.device(device) if device is not None else get_device()
    result = PeakMemory()
    if device.type != "cuda":
        with track_peak_rss() as rss:
            yield result
        result.start, result.peak, result.extra, result.exact = (
            rss.start,
            rss.peak,
            rss.extra,
            rss.exact,
        )
        return
    result.counter = "torch.cuda.max_memory_allocated"
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    result.start = torch.cuda.memory_allocated(device) / 2**20
    try:
        yield result
    finally:
        torch.cuda.synchronize(device)
        result.peak = torch.cuda.max_memory_allocated(device) / 2**20
        result.extra = result.peak - result.start


@contextmanager
def activation_checkpointing(model, use_reentrant: bool = True):
    """Activation checkpointing on a transformers ``model`` inside the block, switched off after it.

    Each decoder layer then keeps only its input for the backward pass and recomputes the rest.
    transformers 5 renamed ``gradient_checkpointing_enable`` to ``activation_checkpointing_enable``
    (and its ``*_kwargs``); 5.17, which a GPU machine here has, knows only the old names, so this
    calls whichever the installed version has. On leaving, the inputs' ``requires_grad`` hook that
    enabling adds is removed too. Introduced in 08_lora_hyperparameters.
    """
    prefix = "activation" if hasattr(model, "activation_checkpointing_enable") else "gradient"
    getattr(model, f"{prefix}_checkpointing_enable")(
        **{f"{prefix}_checkpointing_kwargs": {"use_reentrant": use_reentrant}}
    )
    try:
        yield model
    finally:
        getattr(model, f"{prefix}_checkpointing_disable")()
        model.disable_input_require_grads()
