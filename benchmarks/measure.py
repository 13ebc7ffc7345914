"""Peak memory (RSS on CPU, CUDA max allocated on a GPU) and optimizer state size."""

from __future__ import annotations

import sys


def peak_rss_bytes() -> int:
    """Highest resident set size this process has reached, in bytes.

    The mark only grows, so run.py measures each configuration in a fresh process.
    ``ru_maxrss`` is in KiB on Linux and in bytes on macOS; Windows falls back to psutil.
    """
    try:
        import resource
    except ImportError:
        import psutil

        info = psutil.Process().memory_info()
        return int(getattr(info, "peak_wset", info.rss))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def reset_peak_memory(device) -> None:
    """Start a new peak on CUDA (the CPU mark is per process: nothing to reset)."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_bytes(device) -> tuple[int, str]:
    """(peak bytes, what was measured): CUDA max allocated on a CUDA device, else peak RSS."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
        return int(torch.cuda.max_memory_allocated(device)), "cuda_max_allocated"
    return peak_rss_bytes(), "peak_rss"


def optimizer_state_bytes(optimizer) -> int:
    """Bytes in an optimizer's state tensors (AdamW: two moments per trainable parameter)."""
    import torch

    return sum(
        v.numel() * v.element_size()
        for state in optimizer.state.values()
        for v in state.values()
        if torch.is_tensor(v)
    )
