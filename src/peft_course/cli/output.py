"""`train-lora` output: the interrupted-run folder, its checkpoints, and the checks that keep a
finished adapter from being clobbered or an interrupted run from being silently restarted."""

from __future__ import annotations

import json
from pathlib import Path

from .args import UsageError

# Settings that may change between an interrupted run and its --resume.
RESUME_FREE = ("resume", "overwrite", "metric_rows", "argv")


def partial_dir(output: str | Path) -> Path:
    """Where an unfinished run lives: its settings, checkpoints and OLoRA/PiSSA initial adapter."""
    output = Path(output)
    return output.with_name(output.name + ".partial")


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


def check_output(settings: dict, main: bool) -> None:
    """Refuse to clobber a finished adapter or silently restart an interrupted run (the checks
    that read the folder run on the main process only; every process needs the partial run)."""
    output, partial = Path(settings["output"]), partial_dir(settings["output"])
    if settings["resume"] and not partial.is_dir():
        raise UsageError(f"--resume: no interrupted run at {partial}; run without --resume")
    if not main:
        return
    if output.exists() and not settings["overwrite"]:
        raise UsageError(
            f"--output {output} already exists; choose another folder or add "
            "--overwrite to replace it"
        )
    if partial.is_dir() and not (settings["resume"] or settings["overwrite"]):
        raise UsageError(
            f"an interrupted run of this --output is in {partial}; add --resume to "
            "continue it or --overwrite to start over"
        )
    saved = partial / "settings.json"
    if settings["resume"] and saved.is_file():
        before = json.loads(saved.read_text())
        diff = sorted(
            k
            for k in set(before) | set(settings)
            if k not in RESUME_FREE and before.get(k) != settings.get(k)
        )
        if diff:
            raise UsageError(
                "--resume needs the interrupted run's settings; these differ: "
                + ", ".join(f"{k} (was {before.get(k)!r}, now {settings.get(k)!r})" for k in diff)
            )


def library_versions() -> dict:
    import accelerate
    import datasets
    import peft
    import torch
    import transformers

    versions = {
        m.__name__: m.__version__ for m in (torch, transformers, peft, datasets, accelerate)
    }
    try:
        import bitsandbytes

        versions["bitsandbytes"] = bitsandbytes.__version__
    except Exception:  # missing or a broken native library
        versions["bitsandbytes"] = None
    return versions


def to_json(info: dict) -> str:
    """JSON text of a settings or info dict (paths and other objects as strings)."""
    return json.dumps(info, indent=2, default=str) + "\n"
