"""`train-lora` run: tokenize, load, train with `peft_course.train`, score, write the folder."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

from transformers import TrainerCallback

from .cli_data import (
    UsageError,
    detect_task,
    file_sha256,
    prompt_rows,
    shortest_prompt,
    tokenize_rows,
)
from .cli_output import (
    finish,
    is_main_process,
    library_versions,
    partial_dir,
    plot_loss,
    write_info,
)


class _StepCallback(TrainerCallback):
    """Remembers the Trainer's final step count."""

    global_step = 0

    def on_train_end(self, args, state, control, **kwargs):
        self.global_step = state.global_step


def _tokenize(rows, fmt, tokenizer, s, flag):
    ds = tokenize_rows(rows, fmt, tokenizer, s["max_length"])
    if len(ds) == 0:
        need = shortest_prompt(rows, fmt, tokenizer) + 8
        raise UsageError(f"--max-length {s['max_length']} is shorter than every example in {flag}"
                         f" (the shortest prompt alone is {need - 8} tokens), so no answer token "
                         f"is left to learn; use --max-length {max(need, 64)} or more")
    if len(ds) < len(rows):
        print(f"train-lora: warning: {len(rows) - len(ds)} of {len(rows)} rows in {flag} lose "
              f"their whole answer at --max-length {s['max_length']} and are skipped",
              file=sys.stderr)
    return ds


def task_metric(model, tokenizer, eval_rows, fmt, limit: int) -> dict | None:
    """Greedy answers on the first ``limit`` eval rows: the course task's exact match when the
    rows are extract/sentiment, else exact string match against the completions."""
    from .evaluate import generate, score

    rows = prompt_rows(eval_rows or [], fmt)
    if not rows or limit <= 0:
        return None
    rows = rows[:limit]
    refs = [r["completion"] for r in rows]
    task = detect_task(rows)
    if task:
        max_new = 48 if task == "extract" else 6
    else:
        max_new = min(256, max(len(tokenizer(r)["input_ids"]) for r in refs) + 8)
    preds = generate(model, tokenizer, [r["prompt"] for r in rows], max_new_tokens=max_new,
                     progress=False)
    if task:
        value, name = score(task, preds, refs), f"{task} exact match"
    else:
        value = sum(p.strip() == r.strip() for p, r in zip(preds, refs, strict=True)) / len(refs)
        name = "exact match"
    examples = [{"prompt": r["prompt"][-120:], "prediction": p, "reference": r["completion"]}
                for r, p in zip(rows[:3], preds[:3], strict=True)]
    return {"name": name, "value": value, "rows": len(rows), "examples": examples}


def _train_config(s: dict, targets):
    from .train import TrainConfig

    return TrainConfig(
        r=s["r"], lora_alpha=s["lora_alpha"], lora_dropout=s["lora_dropout"],
        target_modules=[targets] if isinstance(targets, str) else list(targets),
        init_lora_weights=True if s["init_lora_weights"] == "default" else s["init_lora_weights"],
        lr=s["learning_rate"], num_steps=s["max_steps"], num_epochs=s["epochs"],
        batch_size=s["batch_size"], gradient_accumulation_steps=s["gradient_accumulation_steps"],
        warmup_ratio=s["warmup_ratio"], weight_decay=s["weight_decay"],
        max_length=s["max_length"], seed=s["seed"], logging_steps=s["logging_steps"],
        eval_steps=s["eval_steps"],
    )


def _load(path: str, m: dict):
    import torch

    from .device import get_device, get_dtype
    from .models import load_model

    device = get_device()
    quantized = m["load_in_8bit"] or m["load_in_4bit"]
    device_map = None
    sharded = any(os.environ.get(f"ACCELERATE_USE_{k}", "").lower() in ("1", "true")
                  for k in ("FSDP", "DEEPSPEED"))
    if sharded and not quantized:
        device_map = {"": "cpu"}  # FSDP / DeepSpeed shard it onto the GPUs, not one whole copy
    elif device.type == "cuda":  # one GPU per process under torchrun / accelerate launch
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local_rank)
        device_map = {"": local_rank} if quantized else None
    return load_model(path, dtype=None if quantized else get_dtype(device), device_map=device_map,
                      load_in_8bit=m["load_in_8bit"], load_in_4bit=m["load_in_4bit"])


def run(s: dict, data, m: dict, checkpoint: Path | None) -> None:
    """Train and, on the main process, write ``s["output"]``. Introduced in 04_lora_sft."""
    from peft import get_peft_model

    from .device import environment_report, set_seed
    from .models import load_tokenizer
    from .train import train_lora

    start = time.perf_counter()
    rows, eval_rows, fmt = data
    tokenizer = load_tokenizer(m["path"])
    train_ds = _tokenize(rows, fmt, tokenizer, s, "--data")
    eval_flag = "--eval-data" if s["eval_data"] else "the --val-split rows"
    eval_ds = _tokenize(eval_rows, fmt, tokenizer, s, eval_flag) if eval_rows else None

    main = is_main_process()
    output, partial = Path(s["output"]), partial_dir(s["output"])
    if main:  # the first write of the run: every check above has passed
        if s["overwrite"] and partial.exists():
            shutil.rmtree(partial)
        (partial / "checkpoints").mkdir(parents=True, exist_ok=True)
        if not (partial / "settings.json").exists():
            write_info(partial / "settings.json", s)
    if checkpoint is not None:
        print(f"train-lora: resuming from {checkpoint}", file=sys.stderr)

    cfg = _train_config(s, m["targets"])
    lora_config = cfg.lora_config()
    if m["targets"] == "all-linear":
        lora_config.target_modules = "all-linear"
    model = _load(m["path"], m)
    set_seed(s["seed"])
    model = get_peft_model(model, lora_config)
    init_dir = partial / "init"
    if s["init_lora_weights"] in ("olora", "pissa") and main and not init_dir.exists():
        model.save_pretrained(init_dir)  # for the conversion to a plain LoRA at the end

    world = int(os.environ.get("WORLD_SIZE", "1"))
    overrides = dict(
        save_strategy="steps" if s["save_steps"] else "no",
        save_steps=s["save_steps"] or 500,
        save_total_limit=2,
        activation_checkpointing=s["gradient_checkpointing"],
        activation_checkpointing_kwargs={"use_reentrant": False},
    )
    if world > 1:
        overrides["ddp_find_unused_parameters"] = False
    steps = _StepCallback()
    result = train_lora(model, tokenizer, train_ds, eval_ds, cfg,
                        output_dir=str(partial / "checkpoints"), callbacks=[steps],
                        resume_from_checkpoint=str(checkpoint) if checkpoint else None,
                        **overrides)
    if not main:
        return

    metric_rows = s["metric_rows"]
    if metric_rows is None:
        metric_rows = 50 if model.device.type == "cpu" else 100
    metric = task_metric(model, tokenizer, eval_rows, fmt, metric_rows)
    staged = partial / "adapter"
    shutil.rmtree(staged, ignore_errors=True)
    if s["init_lora_weights"] in ("olora", "pissa"):
        model.save_pretrained(staged, path_initial_model_for_weight_conversion=str(init_dir))
    else:
        model.save_pretrained(staged)
    (staged / "README.md").unlink(missing_ok=True)  # PEFT's placeholder model card
    tokenizer.save_pretrained(staged)

    def file_info(path, raw, used):
        if path is None:
            return None
        return {"path": str(path), "sha256": file_sha256(path), "rows": len(raw),
                "rows_used": used}

    history = result.history
    info = {
        "command": shlex.join(["train-lora", *s["argv"]]),
        "settings": s,
        "model": {"name": s["model"] or "embedded default", "path": m["path"],
                  "target_modules": m["targets"], "quantization_warning": m["quantization_warning"],
                  "load_in_8bit": m["load_in_8bit"], "load_in_4bit": m["load_in_4bit"]},
        "train_config": result.config,
        "versions": library_versions(),
        "device": {**asdict(environment_report()), "world_size": world},
        "data": {"format": fmt,
                 "train": file_info(s["data"], rows, len(train_ds)),
                 "eval": file_info(s["eval_data"], eval_rows, len(eval_ds)) if s["eval_data"]
                 else ({"val_split": s["val_split"], "rows": len(eval_rows),
                        "rows_used": len(eval_ds)} if eval_rows else None)},
        "trainable_parameters": result.trainable,
        "total_parameters": sum(p.numel() for p in model.parameters()),
        "steps": steps.global_step,
        "resumed_from": str(checkpoint) if checkpoint else None,
        "loss_history": history["train"],
        "eval_history": history["eval"],
        "final_validation_loss": history["eval"][-1][1] if history["eval"] else None,
        "task_metric": metric,
        "train_seconds": round(result.seconds, 2),
        "wall_seconds": round(time.perf_counter() - start, 2),
    }
    if s["init_lora_weights"] in ("olora", "pissa"):
        info["conversion"] = ("saved as a plain LoRA (rank 2r) for the untouched base: "
                              "path_initial_model_for_weight_conversion")
    write_info(staged / "training_info.json", info)
    plot_loss(history, staged / "loss_curve.png", f"{output.name}: r={s['r']}, "
              f"lr={s['learning_rate']}, {steps.global_step} steps")
    finish(staged, output, partial, s["overwrite"])
    summary = {"output": str(output), "steps": steps.global_step,
               "final_train_loss": history["train"][-1][1] if history["train"] else None,
               "final_validation_loss": info["final_validation_loss"],
               "task_metric": {k: metric[k] for k in ("name", "value", "rows")} if metric else None,
               "wall_seconds": info["wall_seconds"]}
    print(json.dumps(summary))
