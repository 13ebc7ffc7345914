"""`train-lora`'s arguments: `TrainConfig` plus the model, data and output of a run, parsed by
transformers' `HfArgumentParser` straight into dataclasses; presets sit under explicit flags."""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field, fields
from typing import Literal

from ..presets import PRESET_NOTES, PRESETS, check_presets, resolve_presets
from ..train import TrainConfig, config_field

FORMATS = ("messages", "prompt-completion", "text")


class UsageError(ValueError):
    """Bad input to `train-lora`: reported with exit code 2; the message names the fix."""


@dataclass
class ModelArguments:
    _argument_group_name = "model"

    model: str | None = config_field(
        None,
        "local folder or hub id (default: the embedded "
        "SmolLM2-135M-Instruct, or $PEFT_COURSE_MODEL)",
    )
    load_in_8bit: bool = config_field(
        False,
        "8-bit base weights (bitsandbytes); falls back to "
        "full precision with a warning where unavailable",
    )
    load_in_4bit: bool = config_field(False, "4-bit nf4 base weights (QLoRA); same fallback")

    def __post_init__(self):
        if self.load_in_8bit and self.load_in_4bit:
            raise UsageError("choose one of --load-in-8bit and --load-in-4bit")


@dataclass
class DataArguments:
    _argument_group_name = "data"

    data: str = field(
        metadata={
            "help": 'training JSONL: rows of {"messages": [...]}, '
            '{"prompt", "completion"} or {"text"}'
        }
    )
    eval_data: str | None = config_field(None, "validation JSONL, same format as --data")
    format: Literal["messages", "prompt-completion", "text"] | None = config_field(
        None, "row format (default: detected from line 1)"
    )
    val_split: float = config_field(0.0, "hold out this fraction of --data for validation")
    metric_rows: int | None = config_field(
        None,
        "validation rows answered greedily for the "
        "task metric (default 50 on CPU, 100 on GPU; 0: skip)",
    )

    def __post_init__(self):
        if not 0 <= self.val_split < 1:
            raise UsageError(f"--val-split must be in [0, 1) (got {self.val_split})")
        if self.val_split and self.eval_data:
            raise UsageError("give --eval-data or --val-split, not both")
        if self.metric_rows is not None and self.metric_rows < 0:
            raise UsageError(f"--metric-rows must be >= 0 (got {self.metric_rows})")


@dataclass
class OutputArguments:
    _argument_group_name = "output"

    output: str = field(
        metadata={
            "help": "folder for the adapter; written whole at the end "
            "(checkpoints live in <output>.partial/ meanwhile)"
        }
    )
    overwrite: bool = config_field(
        False,
        "replace an existing --output (at the end, so a "
        "failed run keeps the old one) or an interrupted run",
    )
    resume: bool = config_field(
        False,
        "continue an interrupted run from its newest checkpoint "
        "in <output>.partial/ (same settings required)",
    )
    save_steps: int = config_field(25, "checkpoint every N steps for --resume (0: never)")
    preset: str = config_field(
        "",
        "comma-separated presets: a task one (chat, domain, code, "
        "style) and/or a memory one (low-memory, standard, large); "
        "explicit flags override them (listed below)",
    )

    def __post_init__(self):
        if self.resume and self.overwrite:
            raise UsageError(
                "--resume continues a run and --overwrite starts over: give one of them"
            )
        if self.save_steps < 0:
            raise UsageError(f"--save-steps must be >= 0 (got {self.save_steps})")


PARSED = (ModelArguments, DataArguments, OutputArguments, TrainConfig)


@dataclass
class RunArguments:
    """The four parsed dataclasses of one `train-lora` command."""

    model: ModelArguments
    data: DataArguments
    output: OutputArguments
    train: TrainConfig
    argv: list[str] = field(default_factory=list)

    def settings(self) -> dict:
        """Every setting under its field name, and the command line (recorded in settings.json
        and training_info.json)."""
        parts = (self.model, self.data, self.output, self.train)
        return {**{k: v for part in parts for k, v in asdict(part).items()}, "argv": self.argv}


def setting_names() -> set[str]:
    """Every field a preset may set: the fields of the parsed dataclasses."""
    return {f.name for cls in PARSED for f in fields(cls)} - {"data", "output", "preset"}


def build_parser(defaults: dict | None = None):
    """The `train-lora` parser: one flag per dataclass field (``--lora_alpha`` and
    ``--lora-alpha``, plus the aliases in the field's metadata), ``defaults`` under them."""
    from transformers import HfArgumentParser

    parser = HfArgumentParser(
        PARSED,
        prog="train-lora",
        description="Fine-tune a LoRA adapter from the command line with the notebooks' "
        "training code (peft_course.train.train_lora).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="presets:\n"
        + "\n".join(
            f"  {name:<11} {', '.join(f'{k}={v}' for k, v in PRESETS[name].items())}\n"
            f"              {PRESET_NOTES[name]}"
            for name in PRESETS
        )
        + "\n\nSettings come from TrainConfig's defaults, then --preset (later presets win), "
        "then the flags given. See docs/train_lora.md.",
    )
    if defaults:
        parser.set_defaults(**defaults)
    return parser


def parse(argv: list[str]) -> RunArguments:
    """Parse ``argv``: the presets named by ``--preset`` become the parser's defaults, so explicit
    flags win. Bad values raise ``UsageError``; argparse itself exits 2 on unknown flags."""
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--preset", default="")
    names = [n for n in early.parse_known_args(argv)[0].preset.split(",") if n]
    try:
        check_presets(setting_names())
        defaults = resolve_presets(names)
    except ValueError as err:
        raise UsageError(f"--preset: {err}") from err
    try:
        parts = build_parser(defaults).parse_args_into_dataclasses(args=argv)
    except UsageError:
        raise
    except ValueError as err:  # a TrainConfig field: its message names the field and the flag
        raise UsageError(str(err)) from err
    return RunArguments(*parts, argv=list(argv))
