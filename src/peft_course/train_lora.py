"""`train-lora`: fine-tune a LoRA adapter from the command line with the notebooks' training code.

    train-lora --data data/extract/train.jsonl --eval-data data/extract/test.jsonl \\
        --preset style --max-steps 30 --output runs/extract

Settings come from the defaults, then --preset (comma-separated, later wins), then explicit
flags. The same command under `torchrun` or `accelerate launch` trains with DDP. See
docs/train_lora.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .cli_data import FORMATS, UsageError, detect_format, read_jsonl
from .cli_output import is_main_process, latest_checkpoint, partial_dir
from .presets import PRESET_NOTES, PRESETS, resolve_presets

# Defaults under the presets (TrainConfig's, except that --epochs rules unless --max-steps > 0).
DEFAULTS = {
    "r": 8, "lora_alpha": 16, "lora_dropout": 0.05, "target_modules": "attention",
    "init_lora_weights": "default", "learning_rate": 2e-3, "epochs": 1.0, "max_steps": 0,
    "batch_size": 8, "gradient_accumulation_steps": 1, "warmup_ratio": 0.05, "weight_decay": 0.0,
    "max_length": 256, "load_in_8bit": False, "load_in_4bit": False,
    "gradient_checkpointing": False,
}
INITS = ("default", "gaussian", "olora", "pissa")
# Settings that may change between an interrupted run and its --resume.
RESUME_FREE = ("resume", "overwrite", "metric_rows", "argv")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="train-lora", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="presets:\n" + "\n".join(
            f"  {name:<11} {', '.join(f'{k}={v}' for k, v in PRESETS[name].items())}\n"
            f"              {PRESET_NOTES[name]}" for name in PRESETS),
    )
    d = DEFAULTS
    g = p.add_argument_group("model and data")
    g.add_argument("--model", help="local folder or hub id (default: the embedded "
                   "SmolLM2-135M-Instruct, or $PEFT_COURSE_MODEL)")
    g.add_argument("--data", required=True, help="training JSONL: rows of {\"messages\": [...]}, "
                   "{\"prompt\", \"completion\"} or {\"text\"}")
    g.add_argument("--format", choices=FORMATS, help="row format (default: detected from line 1)")
    g.add_argument("--eval-data", help="validation JSONL, same format as --data")
    g.add_argument("--val-split", type=float, default=0.0,
                   help="hold out this fraction of --data for validation (default 0: none)")
    g.add_argument("--preset", default="", help="comma-separated presets: a task one "
                   "(chat, domain, code, style) and/or a memory one (low-memory, standard, "
                   "large); explicit flags override them (listed below)")
    g = p.add_argument_group("adapter (PEFT LoraConfig)")
    g.add_argument("--lora-r", dest="r", type=int, help=f"rank r (default {d['r']})")
    g.add_argument("--lora-alpha", type=float,
                   help=f"lora_alpha; scaling = lora_alpha / r (default {d['lora_alpha']})")
    g.add_argument("--lora-dropout", type=float,
                   help=f"dropout on the adapter input, in [0, 1) (default {d['lora_dropout']})")
    g.add_argument("--target-modules", help="comma-separated module names, all-linear, or a set: "
                   "minimal = q,v; attention = q,k,v,o; all = attention + gate,up,down "
                   f"(default {d['target_modules']})")
    g.add_argument("--init-lora-weights", choices=INITS, help="default (Kaiming A, zero B), "
                   "gaussian, olora or pissa; olora/pissa are saved converted to a plain LoRA "
                   "for the untouched base (default default)")
    g = p.add_argument_group("optimisation (transformers TrainingArguments)")
    g.add_argument("--learning-rate", type=float, help=f"peak AdamW lr (default {d['learning_rate']})")
    g.add_argument("--epochs", type=float, help=f"passes over --data (default {d['epochs']})")
    g.add_argument("--max-steps", type=int, help="optimizer steps; > 0 overrides --epochs")
    g.add_argument("--batch-size", type=int, help=f"per-device batch (default {d['batch_size']})")
    g.add_argument("--gradient-accumulation-steps", type=int,
                   help="micro-batches per optimizer step (default 1)")
    g.add_argument("--warmup-ratio", type=float,
                   help=f"fraction of steps of linear warm-up, in [0, 1) (default {d['warmup_ratio']})")
    g.add_argument("--weight-decay", type=float, help="AdamW weight decay (default 0)")
    g.add_argument("--max-length", type=int,
                   help=f"tokens per example; longer ones are cut (default {d['max_length']})")
    g.add_argument("--gradient-checkpointing", action="store_true", default=None,
                   help="recompute activations in backward: less memory, ~30%% slower")
    g.add_argument("--seed", type=int, default=0, help="seed for init, data order, dropout")
    g = p.add_argument_group("memory")
    g.add_argument("--load-in-8bit", action="store_true", default=None,
                   help="8-bit base weights (bitsandbytes); falls back to full precision with "
                   "a warning where unavailable")
    g.add_argument("--load-in-4bit", action="store_true", default=None,
                   help="4-bit nf4 base weights (QLoRA); same fallback")
    g = p.add_argument_group("output")
    g.add_argument("--output", required=True, help="folder for the adapter; built in "
                   "<output>.partial/ and renamed when complete")
    g.add_argument("--overwrite", action="store_true", help="replace an existing --output "
                   "(at the end, so a failed run keeps the old one) or an interrupted run")
    g.add_argument("--resume", action="store_true", help="continue an interrupted run from "
                   "its newest checkpoint in <output>.partial/ (same settings required)")
    g.add_argument("--save-steps", type=int, default=25,
                   help="checkpoint every N steps for --resume (default 25; 0: never)")
    g.add_argument("--logging-steps", type=int, default=1, help="log the loss every N steps")
    g.add_argument("--eval-steps", type=int, default=0,
                   help="validation loss every N steps (default 0: at the end only)")
    g.add_argument("--metric-rows", type=int, help="validation rows answered greedily for the "
                   "task metric (default 50 on CPU, 100 on GPU; 0: skip)")
    return p


def resolve(args: argparse.Namespace) -> dict:
    """Defaults, then presets in order, then explicit flags: the run's settings."""
    try:
        merged = dict(DEFAULTS) | resolve_presets([n for n in args.preset.split(",") if n])
    except ValueError as err:
        raise UsageError(f"--preset: {err}") from err
    settings = vars(args).copy()
    for key, value in merged.items():
        if settings.get(key) is None:
            settings[key] = value
    return settings


def validate(s: dict) -> None:
    """Cheap checks on the numbers, before any file or model is touched."""
    checks = [
        (s["r"] > 0, f"--lora-r must be a positive integer (got {s['r']}); try 8 or 16"),
        (s["lora_alpha"] > 0, f"--lora-alpha must be > 0 (got {s['lora_alpha']}); a common "
         "choice is 2 x r"),
        (0 <= s["lora_dropout"] < 1, f"--lora-dropout must be in [0, 1) (got "
         f"{s['lora_dropout']}); try 0.05"),
        (s["learning_rate"] > 0, f"--learning-rate must be > 0 (got {s['learning_rate']})"),
        (s["epochs"] > 0 or s["max_steps"] > 0, "set --epochs > 0 or --max-steps > 0"),
        (s["max_steps"] >= 0, f"--max-steps must be >= 0 (got {s['max_steps']})"),
        (s["batch_size"] >= 1, f"--batch-size must be >= 1 (got {s['batch_size']})"),
        (s["gradient_accumulation_steps"] >= 1, "--gradient-accumulation-steps must be >= 1"),
        (0 <= s["warmup_ratio"] < 1, f"--warmup-ratio must be in [0, 1) (got {s['warmup_ratio']})"),
        (s["weight_decay"] >= 0, f"--weight-decay must be >= 0 (got {s['weight_decay']})"),
        (s["max_length"] >= 8, f"--max-length must be at least 8 tokens (got {s['max_length']})"),
        (0 <= s["val_split"] < 1, f"--val-split must be in [0, 1) (got {s['val_split']})"),
        (not (s["val_split"] and s["eval_data"]), "give --eval-data or --val-split, not both"),
        (not (s["load_in_8bit"] and s["load_in_4bit"]), "choose one of --load-in-8bit and "
         "--load-in-4bit"),
        (not (s["resume"] and s["overwrite"]), "--resume continues a run and --overwrite starts "
         "over: give one of them"),
        (s["save_steps"] >= 0 and s["logging_steps"] >= 1 and s["eval_steps"] >= 0,
         "--save-steps and --eval-steps must be >= 0, --logging-steps >= 1"),
    ]
    for ok, message in checks:
        if not ok:
            raise UsageError(message)


def check_output(s: dict) -> None:
    """Refuse to clobber a finished adapter or silently restart an interrupted run."""
    output, partial = Path(s["output"]), partial_dir(s["output"])
    if output.exists() and not s["overwrite"]:
        raise UsageError(f"--output {output} already exists; choose another folder or add "
                         "--overwrite to replace it")
    if s["resume"] and not partial.is_dir():
        raise UsageError(f"--resume: no interrupted run at {partial}; run without --resume")
    if partial.is_dir() and not (s["resume"] or s["overwrite"]):
        raise UsageError(f"an interrupted run of this --output is in {partial}; add --resume to "
                         "continue it or --overwrite to start over")
    if s["resume"]:
        saved = partial / "settings.json"
        if saved.is_file():
            before = json.loads(saved.read_text())
            diff = sorted(k for k in set(before) | set(s) if k not in RESUME_FREE
                          and before.get(k) != s.get(k))
            if diff:
                raise UsageError("--resume needs the interrupted run's settings; these differ: "
                                 + ", ".join(f"{k} (was {before.get(k)!r}, now {s.get(k)!r})"
                                             for k in diff))


def load_data(s: dict):
    """Train rows, eval rows (or None) and the format; every data error raised here."""
    rows = read_jsonl(s["data"], "--data")
    fmt = detect_format(rows, s["data"], s["format"], "--data")
    eval_rows = None
    if s["eval_data"]:
        eval_rows = read_jsonl(s["eval_data"], "--eval-data")
        detect_format(eval_rows, s["eval_data"], fmt, "--eval-data")
    elif s["val_split"]:
        import random

        order = list(range(len(rows)))
        random.Random(s["seed"]).shuffle(order)
        n_eval = max(1, round(len(rows) * s["val_split"]))
        if n_eval >= len(rows):
            raise UsageError(f"--val-split {s['val_split']} leaves no training rows out of "
                             f"{len(rows)}; lower it or give --eval-data")
        eval_rows = [rows[i] for i in sorted(order[:n_eval])]
        rows = [rows[i] for i in sorted(order[n_eval:])]
    return rows, eval_rows, fmt


def main(argv: list[str] | None = None) -> int:
    """Console entry point. Returns 0, or exits with 2 on bad input. Introduced in 04_lora_sft."""
    args = build_parser().parse_args(argv)
    from .cli_model import check_model  # after parsing: `--help` stays fast
    from .cli_run import run

    try:
        settings = resolve(args)
        settings["argv"] = list(sys.argv[1:] if argv is None else argv)
        validate(settings)
        data = load_data(settings)
        if is_main_process():
            check_output(settings)
        elif settings["resume"] and not partial_dir(settings["output"]).is_dir():
            raise UsageError(f"--resume: no interrupted run at {partial_dir(settings['output'])}")
        model_info = check_model(settings)
    except UsageError as err:
        print(f"train-lora: error: {err}", file=sys.stderr)
        sys.exit(2)
    checkpoint = None
    if settings["resume"]:
        checkpoint = latest_checkpoint(partial_dir(settings["output"]) / "checkpoints")
    try:
        run(settings, data, model_info, checkpoint)
    except UsageError as err:
        print(f"train-lora: error: {err}", file=sys.stderr)
        sys.exit(2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
