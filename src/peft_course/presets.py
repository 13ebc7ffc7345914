"""Named starting points for `train-lora --preset`: partial settings by task and by memory."""

from __future__ import annotations

# Settings use the field names of `TrainConfig` (and `train-lora`'s model arguments, for the
# quantisation switches); `check_presets` refuses any other key. Task presets choose the adapter and the
# optimisation; memory presets choose batch shape, quantisation and checkpointing, so one of each
# combines (`--preset chat,low-memory`). Later presets override earlier ones; explicit flags
# override every preset. These are starting points to sweep from (notebook 08), not tuned optima.
PRESETS: dict[str, dict] = {
    # --- by task ---
    "chat": {
        "target_modules": "all",
        "r": 16,
        "lora_alpha": 32,
        "lora_dropout": 0.05,
        "learning_rate": 1e-3,
        "num_train_epochs": 2.0,
        "max_length": 1024,
    },
    "domain": {
        "target_modules": "all",
        "r": 32,
        "lora_alpha": 64,
        "lora_dropout": 0.05,
        "learning_rate": 5e-4,
        "num_train_epochs": 1.0,
        "max_length": 1024,
    },
    "code": {
        "target_modules": "all",
        "r": 16,
        "lora_alpha": 32,
        "lora_dropout": 0.05,
        "learning_rate": 1e-3,
        "num_train_epochs": 2.0,
        "max_length": 2048,
    },
    "style": {
        "target_modules": "attention",
        "r": 8,
        "lora_alpha": 16,
        "lora_dropout": 0.05,
        "learning_rate": 3e-3,
        "per_device_train_batch_size": 4,
        "max_length": 256,
    },
    # --- by memory ---
    "low-memory": {
        "load_in_4bit": True,
        "per_device_train_batch_size": 1,
        "gradient_accumulation_steps": 8,
        "activation_checkpointing": True,
    },
    "standard": {"per_device_train_batch_size": 8, "gradient_accumulation_steps": 1},
    "large": {"per_device_train_batch_size": 32, "gradient_accumulation_steps": 1},
}

# One line each: why these values.
PRESET_NOTES: dict[str, str] = {
    "chat": "Instruction/chat behaviour spreads over every block: adapt attention and MLP "
    "(QLoRA found all linear layers needed to match full fine-tuning), moderate rank, 2 epochs.",
    "domain": "New vocabulary and facts need more capacity than a new format: all layers, r=32, "
    "a lower learning rate over long texts (plain `text` rows, loss on every token).",
    "code": "Like chat but with long sequences (2048 tokens): code files and diffs rarely fit "
    "in 1024, and truncated answers teach the model to stop mid-function.",
    "style": "A fixed output format is a low-rank change to attention: attention r=8 at lr 3e-3, "
    "batch 4 takes the course's extract task from 0.00 to ~0.98 exact match in 30 steps.",
    "low-memory": "QLoRA recipe: 4-bit base weights, activation checkpointing and batch 1 x 8 "
    "accumulation keep the effective batch at 8 while peak memory drops the most.",
    "standard": "Full-precision (fp32 on CPU, bf16 on GPU) base and a real batch of 8: the "
    "defaults, for a model that fits comfortably.",
    "large": "Plenty of accelerator memory: a per-device batch of 32 keeps a GPU busy; lower "
    "--batch-size if it runs out of memory.",
}

TASK_PRESETS = ("chat", "domain", "code", "style")
MEMORY_PRESETS = ("low-memory", "standard", "large")


def check_presets(valid: set[str], presets: dict[str, dict] | None = None) -> None:
    """Raise ``ValueError`` naming any preset key that is not a setting in ``valid`` (the fields
    of the dataclasses a run is parsed into), with the valid names, so a typo cannot pass
    silently. Introduced in 08_lora_hyperparameters."""
    for name, settings in (PRESETS if presets is None else presets).items():
        unknown = sorted(set(settings) - valid)
        if unknown:
            raise ValueError(
                f"preset {name!r} has unknown setting(s) {', '.join(unknown)}; valid "
                f"settings are: {', '.join(sorted(valid))}"
            )


def resolve_presets(names: list[str]) -> dict:
    """Merge presets in order (later wins). Raises ``ValueError`` naming an unknown preset.

    Introduced in 08_lora_hyperparameters.
    """
    merged: dict = {}
    for name in names:
        if name not in PRESETS:
            raise ValueError(
                f"unknown preset {name!r}; choose from {', '.join(PRESETS)} "
                "(comma-separate a task preset and a memory preset, e.g. chat,low-memory)"
            )
        merged.update(PRESETS[name])
    return merged
