"""`train-lora` run: tokenize, load, `train.train_lora`, score, and `train.save_adapter` with the
run's record (training_info.json) and loss curve."""

from __future__ import annotations

import io
import json
import shlex
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

from ..files import write_text_atomic
from .args import RunArguments, UsageError
from .data import file_sha256, prompt_rows, shortest_prompt
from .model import ModelCheck, load
from .output import library_versions, partial_dir, to_json


def _tokenize(rows, fmt, tokenizer, max_length, flag):
    from ..data import tokenize_rows

    ds = tokenize_rows(rows, fmt, tokenizer, max_length)
    if len(ds) == 0:
        need = shortest_prompt(rows, fmt, tokenizer) + 8
        raise UsageError(
            f"--max-length {max_length} is shorter than every example in {flag}"
            f" (the shortest prompt alone is {need - 8} tokens), so no answer token "
            f"is left to learn; use --max-length {max(need, 64)} or more"
        )
    if len(ds) < len(rows):
        print(
            f"train-lora: warning: {len(rows) - len(ds)} of {len(rows)} rows in {flag} lose "
            f"their whole answer at --max-length {max_length} and are skipped",
            file=sys.stderr,
        )
    return ds


def task_metric(model, tokenizer, eval_rows, fmt, limit: int) -> dict | None:
    """Greedy answers on the first ``limit`` eval rows: the course task's exact match when the
    prompts are a course task's (`data.detect_task`), else exact string match."""
    from ..data import detect_task
    from ..evaluate import MAX_NEW_TOKENS, generate, score

    rows = prompt_rows(eval_rows or [], fmt)
    if not rows or limit <= 0:
        return None
    rows = rows[:limit]
    refs = [r["completion"] for r in rows]
    task = detect_task([r["prompt"] for r in rows])
    if task:
        max_new = MAX_NEW_TOKENS[task]
    else:
        max_new = min(256, max(len(tokenizer(r)["input_ids"]) for r in refs) + 8)
    preds = generate(
        model, tokenizer, [r["prompt"] for r in rows], max_new_tokens=max_new, progress=False
    )
    if task:
        value, name = score(task, preds, refs), f"{task} exact match"
    else:
        value = sum(p.strip() == r.strip() for p, r in zip(preds, refs, strict=True)) / len(refs)
        name = "exact match"
    examples = [
        {"prompt": r["prompt"][-120:], "prediction": p, "reference": r["completion"]}
        for r, p in zip(rows[:3], preds[:3], strict=True)
    ]
    return {"name": name, "value": value, "rows": len(rows), "examples": examples}


def _loss_png(history: dict, title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")  # a terminal run: never open a window
    import matplotlib.pyplot as plt

    from ..plotting import plot_loss_curves

    fig = plot_loss_curves(history, title=title)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def run(args: RunArguments, data, check: ModelCheck, checkpoint: Path | None) -> None:
    """Train and, on the main process, write ``--output``. Introduced in 04_lora_sft."""
    import os

    from ..device import environment_report, is_main_process
    from ..models import load_tokenizer
    from ..train import save_adapter, train_lora

    start = time.perf_counter()
    cfg, out = args.train, args.output
    settings = args.settings()
    rows, eval_rows, fmt = data
    tokenizer = load_tokenizer(check.path)
    train_ds = _tokenize(rows, fmt, tokenizer, cfg.max_length, "--data")
    eval_flag = "--eval-data" if args.data.eval_data else "the --val-split rows"
    eval_ds = _tokenize(eval_rows, fmt, tokenizer, cfg.max_length, eval_flag) if eval_rows else None

    main = is_main_process()
    output, partial = Path(out.output), partial_dir(out.output)
    if main:  # the first write of the run: every check above has passed
        if out.overwrite and partial.exists():
            shutil.rmtree(partial)
        (partial / "checkpoints").mkdir(parents=True, exist_ok=True)
        if not (partial / "settings.json").exists():
            write_text_atomic(partial / "settings.json", to_json(settings))
    if checkpoint is not None:
        print(f"train-lora: resuming from {checkpoint}", file=sys.stderr)

    world = int(os.environ.get("WORLD_SIZE", "1"))
    overrides = dict(
        save_strategy="steps" if out.save_steps else "no",
        save_steps=out.save_steps or 500,
        save_total_limit=2,
    )
    if world > 1:
        overrides["ddp_find_unused_parameters"] = False
    result = train_lora(
        load(check),
        tokenizer,
        train_ds,
        eval_ds,
        cfg,
        output_dir=str(partial / "checkpoints"),
        resume_from_checkpoint=str(checkpoint) if checkpoint else None,
        **overrides,
    )
    if not main:
        return

    model = result.model
    metric_rows = args.data.metric_rows
    if metric_rows is None:
        metric_rows = 50 if model.device.type == "cpu" else 100
    metric = task_metric(model, tokenizer, eval_rows, fmt, metric_rows)

    def file_info(path, raw, used):
        return {"path": str(path), "sha256": file_sha256(path), "rows": len(raw), "rows_used": used}

    history = result.history
    info = {
        "command": shlex.join(["train-lora", *settings.pop("argv", [])]),
        "settings": settings,
        "model": {"name": args.model.model or "embedded default", **asdict(check)},
        "train_config": result.config,
        "versions": library_versions(),
        "device": {**asdict(environment_report()), "world_size": world},
        "data": {
            "format": fmt,
            "train": file_info(args.data.data, rows, len(train_ds)),
            "eval": file_info(args.data.eval_data, eval_rows, len(eval_ds))
            if args.data.eval_data
            else (
                {
                    "val_split": args.data.val_split,
                    "rows": len(eval_rows),
                    "rows_used": len(eval_ds),
                }
                if eval_rows
                else None
            ),
        },
        "trainable_parameters": result.trainable,
        "total_parameters": sum(p.numel() for p in model.parameters()),
        "steps": result.steps,
        "resumed_from": str(checkpoint) if checkpoint else None,
        "loss_history": history["train"],
        "eval_history": history["eval"],
        "final_validation_loss": history["eval"][-1][1] if history["eval"] else None,
        "task_metric": metric,
        "train_seconds": round(result.seconds, 2),
        "wall_seconds": round(time.perf_counter() - start, 2),
    }
    if result.initial_adapter:
        info["conversion"] = (
            "saved as a plain LoRA (rank 2r) for the untouched base: "
            "path_initial_model_for_weight_conversion"
        )
    files = {
        "training_info.json": to_json(info),
        "loss_curve.png": _loss_png(
            history, f"{output.name}: r={cfg.r}, lr={cfg.learning_rate}, {result.steps} steps"
        ),
    }
    if output.exists() and not out.overwrite:  # appeared while training: keep the work
        save_adapter(result, partial / "adapter", tokenizer=tokenizer, files=files, overwrite=True)
        raise UsageError(
            f"{output} appeared while training; the adapter is in {partial / 'adapter'}"
        )
    save_adapter(result, output, tokenizer=tokenizer, files=files, overwrite=out.overwrite)
    shutil.rmtree(partial, ignore_errors=True)
    summary = {
        "output": str(output),
        "steps": result.steps,
        "final_train_loss": history["train"][-1][1] if history["train"] else None,
        "final_validation_loss": info["final_validation_loss"],
        "task_metric": {k: metric[k] for k in ("name", "value", "rows")} if metric else None,
        "wall_seconds": info["wall_seconds"],
    }
    print(json.dumps(summary))
