"""`train-lora`: fine-tune a LoRA adapter from the command line with the notebooks' training code.

    train-lora --data data/extract/train.jsonl --eval-data data/extract/test.jsonl \\
        --preset style --max-steps 30 --output runs/extract

The flags are the fields of `peft_course.train.TrainConfig` (and of the model, data and output
dataclasses in `cli/args.py`), parsed by transformers' HfArgumentParser. Settings come from the
defaults, then --preset (comma-separated, later wins), then explicit flags. The same command under
`torchrun` or `accelerate launch` trains with DDP. See docs/train_lora.md.
"""

from __future__ import annotations

import random
import sys

from .args import RunArguments, UsageError, parse
from .data import detect_format, read_jsonl


def load_data(args: RunArguments):
    """Train rows, eval rows (or None) and the format; every data error raised here."""
    d = args.data
    rows = read_jsonl(d.data, "--data")
    fmt = detect_format(rows, d.data, d.format, "--data")
    eval_rows = None
    if d.eval_data:
        eval_rows = read_jsonl(d.eval_data, "--eval-data")
        detect_format(eval_rows, d.eval_data, fmt, "--eval-data")
    elif d.val_split:
        order = list(range(len(rows)))
        random.Random(args.train.seed).shuffle(order)
        n_eval = max(1, round(len(rows) * d.val_split))
        if n_eval >= len(rows):
            raise UsageError(
                f"--val-split {d.val_split} leaves no training rows out of "
                f"{len(rows)}; lower it or give --eval-data"
            )
        eval_rows = [rows[i] for i in sorted(order[:n_eval])]
        rows = [rows[i] for i in sorted(order[n_eval:])]
    return rows, eval_rows, fmt


def _fail(err: UsageError):
    print(f"train-lora: error: {err}", file=sys.stderr)
    sys.exit(2)


def main(argv: list[str] | None = None) -> int:
    """Console entry point. Returns 0, or exits with 2 on bad input (nothing written).

    Introduced in 04_lora_sft.
    """
    from ..device import is_main_process
    from .model import check_model
    from .output import check_output, latest_checkpoint, partial_dir
    from .run import run

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parse(argv)
        data = load_data(args)
        check_output(args.settings(), is_main_process())
        model_check = check_model(args)
    except UsageError as err:
        _fail(err)
    checkpoint = None
    if args.output.resume:
        checkpoint = latest_checkpoint(partial_dir(args.output.output) / "checkpoints")
    try:
        run(args, data, model_check, checkpoint)
    except UsageError as err:
        _fail(err)
    return 0
