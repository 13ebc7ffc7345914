"""`train-lora` output: checkpoints folder, training_info.json, loss curve, atomic finish."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path


def partial_dir(output: str | Path) -> Path:
    """Where an unfinished run lives: checkpoints, the OLoRA/PiSSA init, the staged adapter."""
    output = Path(output)
    return output.with_name(output.name + ".partial")


def is_main_process() -> bool:
    """True on rank 0 of torchrun / accelerate launch, and in a single process."""
    return int(os.environ.get("RANK", "0")) == 0


def latest_checkpoint(folder: Path) -> Path | None:
    """Newest complete ``checkpoint-N`` (the Trainer writes trainer_state.json last)."""
    found = []
    for path in folder.glob("checkpoint-*"):
        state = path / "trainer_state.json"
        try:
            json.loads(state.read_text())
            found.append((int(path.name.split("-")[-1]), path))
        except (OSError, ValueError):
            continue  # killed while saving
    return max(found)[1] if found else None


def library_versions() -> dict:
    import accelerate
    import datasets
    import peft
    import torch
    import transformers

    versions = {m.__name__: m.__version__ for m in (torch, transformers, peft, datasets, accelerate)}
    try:
        import bitsandbytes

        versions["bitsandbytes"] = bitsandbytes.__version__
    except Exception:  # missing or a broken native library
        versions["bitsandbytes"] = None
    return versions


def plot_loss(history: dict, path: Path, title: str) -> None:
    """Training (and validation) loss against optimizer step, saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    if history["train"]:
        steps, losses = zip(*history["train"], strict=True)
        ax.plot(steps, losses, label="train loss", color="tab:blue")
    if history["eval"]:
        steps, losses = zip(*history["eval"], strict=True)
        ax.plot(steps, losses, "o--", label="validation loss", color="tab:orange")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy (answer tokens)")
    ax.set_title(title, fontsize=9)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def finish(staged: Path, output: Path, partial: Path, overwrite: bool) -> None:
    """Move the complete adapter into place; an old output is replaced only now (--overwrite)."""
    old = None
    if output.exists():
        if not overwrite:
            raise FileExistsError(f"{output} appeared while training; the adapter is in {staged}")
        old = output.with_name(output.name + f".old-{os.getpid()}")
        output.rename(old)
    staged.rename(output)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(partial, ignore_errors=True)


def write_info(path: Path, info: dict) -> None:
    path.write_text(json.dumps(info, indent=2, default=str) + "\n")
