"""Train and measure one PEFT method of ``peft_course.methods`` the way `make bench-methods` does,
and read the committed results of that benchmark.

Notebook 09 trains a few methods live with ``run_method`` and checks its numbers against the
committed spread (``method_results``, ``method_table``, ``live_check``); the benchmark runs the
same function in a fresh process per (method, seed). Introduced in 09_qlora_methods.
"""

from __future__ import annotations

import contextlib
import json
import time
import warnings
from pathlib import Path

from .course import repo_path

PROBE = ("data", "general", "probe.jsonl")  # scripts/make_probe.py
RESULTS = ("benchmarks", "results", "methods")  # one JSON per (method, seed)
# The benchmark's budget: at 12 steps LoRA and full fine-tuning both score 32/32 and accuracy
# no longer separates the methods (benchmarks/README.md).
DEFAULTS = {"steps": 5, "batch": 4, "eval_rows": 32, "max_length": 256}
GIB, MIB = 2**30, 2**20


def load_probe():
    """The general-ability probe (data/general/probe.jsonl, 40 rows) as a ``datasets.Dataset``.

    Introduced in 09_qlora_methods."""
    from .data import _load_json

    return _load_json({"probe": str(repo_path(*PROBE))}, "probe")


def answer_loss(model, examples, pad_token_id: int, batch_size: int = 8) -> tuple[float, float]:
    """(mean loss of the answer's words, mean loss of its end-of-turn token) over tokenized
    ``examples`` (labels -100 on the prompt). Kept apart: fine-tuning on short answers makes a
    model stop sooner, which moves the end-of-turn loss but says nothing about what it knows.

    Introduced in 09_qlora_methods."""
    import torch
    import torch.nn.functional as F

    from .data import IGNORE_INDEX, CompletionCollator

    collate, device = CompletionCollator(pad_token_id), next(model.parameters()).device
    was_training = model.training
    model.eval()
    sums, counts = [0.0, 0.0], [0, 0]
    with torch.no_grad():
        for start in range(0, len(examples), batch_size):
            rows = [examples[i] for i in range(start, min(start + batch_size, len(examples)))]
            batch = {k: v.to(device) for k, v in collate(rows).items()}
            labels = batch.pop("labels")
            # prompt tuning prepends its virtual tokens to the logits: keep the last seq positions
            logits = model(**batch).logits[:, -labels.shape[1] :].float()  # (batch, seq, vocab)
            target = labels[:, 1:]  # (batch, seq - 1): position t predicts token t + 1
            nll = F.cross_entropy(
                logits[:, :-1].transpose(1, 2), target, ignore_index=IGNORE_INDEX, reduction="none"
            )
            answer = target != IGNORE_INDEX
            stop = answer & (answer.cumsum(1) == answer.sum(1, keepdim=True))  # last answer token
            for i, mask in enumerate((answer & ~stop, stop)):
                sums[i] += float(nll[mask].sum())
                counts[i] += int(mask.sum())
    model.train(was_training)
    return sums[0] / counts[0], sums[1] / counts[1]


def _autocast(device):
    import torch

    from .device import get_dtype

    if device.type == "cuda" and get_dtype(device) == torch.bfloat16:  # fp32 weights, bf16 math
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train_steps(model, optimizer, examples, *, steps, batch, seed, pad_token_id) -> dict:
    """``steps`` AdamW steps of ``batch`` rows of ``examples`` in a seeded order: a tenth of the
    steps warm up, then the rate decays linearly; gradients clipped at 1.0 like the Trainer.
    Returns the losses, the seconds and how many trainable tensors got no gradient.

    Introduced in 09_qlora_methods."""
    import torch

    from .data import CompletionCollator

    collate, device = CompletionCollator(pad_token_id), next(model.parameters()).device
    order = torch.randperm(len(examples), generator=torch.Generator().manual_seed(seed)).tolist()
    warmup = max(1, round(steps / 10))

    def rate(s: int) -> float:  # the fraction of the peak learning rate at step s
        return (s + 1) / (warmup + 1) if s < warmup else (steps - s) / max(1, steps - warmup)

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, rate)
    params = [p for p in model.parameters() if p.requires_grad]
    model.train()
    losses, missing = [], None
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for step in range(steps):
        idx = [order[(step * batch + i) % len(order)] for i in range(batch)]
        rows = {k: v.to(device) for k, v in collate([examples[i] for i in idx]).items()}
        with _autocast(device):
            loss = model(**rows).loss
        loss.backward()
        if missing is None:  # the 4-bit CPU trap leaves every LoRA gradient None
            missing = sum(1 for p in params if p.grad is None)
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return {
        "losses": losses,
        "seconds": time.perf_counter() - start,
        "trainable_without_grad": missing,
        "warmup_steps": warmup,
    }


def run_method(method, seed: int = 0, *, config=None, model_name=None, init_dir=None, **budget):
    """Train ``method`` (a name of ``METHODS`` or a ``Method``) at ``seed`` on the extract task
    and measure it; returns (record, trained model).

    ``config``: a PEFT config to train instead of the table's builder (same base, learning rate
    and budget). ``budget`` overrides ``DEFAULTS`` (steps, batch, eval_rows, max_length). The
    record holds exact match on the first ``eval_rows`` validation rows, the probe's answer loss
    before and after (``forgetting``), parameter counts, the peak memory of the training steps
    (``peft_course.memory.track_peak_memory``) and the seconds. ``init_dir``: where a converted
    method (PiSSA) saves its adapter before training, for the conversion to plain LoRA.

    Introduced in 09_qlora_methods."""
    from .data import load_task, tokenize_dataset
    from .device import set_seed
    from .evaluate import evaluate_task
    from .memory import track_peak_memory
    from .methods import METHODS, build, load_base, parameter_counts
    from .models import load_tokenizer

    unknown = set(budget) - set(DEFAULTS)
    if unknown:
        raise TypeError(f"run_method got {sorted(unknown)}; the budget keys are {list(DEFAULTS)}")
    b = DEFAULTS | budget
    method = METHODS[method] if isinstance(method, str) else method
    if config is not None:
        from peft import get_peft_model

        from .methods import Method

        method = Method(method.name, method.label, method.learning_rate,
                        lambda model, _: (get_peft_model(model, config), None),
                        quant=method.quant)  # fmt: skip
    set_seed(seed)
    tokenizer = load_tokenizer(model_name)
    rows = load_task("extract", "train")
    n_rows = min(b["steps"] * b["batch"], len(rows))
    examples = tokenize_dataset(rows.select(range(n_rows)), tokenizer, b["max_length"])
    probe = tokenize_dataset(load_probe(), tokenizer, b["max_length"])
    base, path = load_base(method, model_name)
    probe_before, stop_before = answer_loss(base, probe, tokenizer.pad_token_id)
    set_seed(seed)  # the adapter's initialisation
    model, optimizer = build(method, base, path)
    trainable, total = parameter_counts(model)
    if init_dir is not None and method.converted:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.save_pretrained(init_dir, save_embedding_layers=False)
    with track_peak_memory() as mem:
        trained = train_steps(model, optimizer, examples, steps=b["steps"], batch=b["batch"],
                              seed=seed, pad_token_id=tokenizer.pad_token_id)  # fmt: skip
    probe_after, stop_after = answer_loss(model, probe, tokenizer.pad_token_id)
    t_eval = time.perf_counter()
    # batch_size 16: the committed results were generated in batches of 16 (the batch's padding
    # can flip a rare greedy token), so a live run reproduces them exactly
    metric = evaluate_task(model, tokenizer, "extract", "validation", limit=b["eval_rows"],
                           max_new_tokens=32, batch_size=16, progress=False)  # fmt: skip
    record = {
        "method": method.name,
        "label": method.label,
        "seed": seed,
        "settings": {
            "task": "extract",
            **b,
            "train_rows": n_rows,
            "learning_rate": method.learning_rate,
            "optimizer": "AdamW",
            "schedule": "linear warm-up then linear decay",
            "grad_clip": 1.0,
            "warmup_steps": trained["warmup_steps"],
            **method.settings,
        },  # fmt: skip
        "exact_match": metric["score"],
        "eval_n": metric["n"],
        "probe_loss_before": probe_before,
        "probe_loss_after": probe_after,
        "forgetting": probe_after - probe_before,
        "probe_stop_loss_before": stop_before,
        "probe_stop_loss_after": stop_after,
        "probe_rows": len(probe),
        "trainable_params": trainable,
        "total_params": total,
        "train_peak_extra_mib": mem.extra,
        "train_peak_counter": mem.counter,
        "train_seconds": trained["seconds"],
        "eval_seconds": time.perf_counter() - t_eval,
        "losses": trained["losses"],
        "trainable_without_grad": trained["trainable_without_grad"],
    }
    return record, model


def method_results(folder: str | Path | None = None) -> list[dict]:
    """Every committed result of `make bench-methods` (benchmarks/results/methods/*.json),
    failed runs left out. Introduced in 09_qlora_methods."""
    folder = Path(folder) if folder else repo_path(*RESULTS)
    files = sorted(folder.glob("*-seed*.json"))
    if not files:
        raise FileNotFoundError(f"no results in {folder}: run `make bench-methods` first")
    runs = [json.loads(f.read_text()) for f in files]
    return [r for r in runs if "error" not in r]


def method_table(results: list[dict]):
    """A ``pandas.DataFrame``, a row per method in the table's order: seeds, exact match (mean,
    min, max), forgetting (mean, min, max), trainable parameters, peak memory (GiB, mean),
    train seconds (mean) and checkpoint size (MiB). Introduced in 09_qlora_methods."""
    import pandas as pd

    from .methods import METHODS

    df = pd.DataFrame(results)
    df["peak_gib"] = df["peak_memory_bytes"] / GIB
    df["checkpoint_mib"] = df["checkpoint_bytes"] / MIB
    g = df.groupby("method")
    table = pd.DataFrame({
        "label": g["label"].first(),
        "seeds": g["seed"].count(),
        "exact_match": g["exact_match"].mean(),
        "em_min": g["exact_match"].min(),
        "em_max": g["exact_match"].max(),
        "forgetting": g["forgetting"].mean(),
        "forget_min": g["forgetting"].min(),
        "forget_max": g["forgetting"].max(),
        "trainable": g["trainable_params"].first(),
        "peak_gib": g["peak_gib"].mean(),
        "train_s": g["train_seconds"].mean(),
        "checkpoint_mib": g["checkpoint_mib"].mean(),
    })  # fmt: skip
    order = [m for m in METHODS if m in table.index] + sorted(set(table.index) - set(METHODS))
    return table.loc[order]


def live_check(record: dict, table, tolerance: float = 1 / 32) -> tuple[bool, str]:
    """(inside, message): is a live run's exact match inside the committed seeds' range of its
    method, widened by ``tolerance`` (one validation row of 32 by default: other thread counts
    and devices change float sums, which can flip one greedy answer)?

    Introduced in 09_qlora_methods."""
    row = table.loc[record["method"]]
    lo, hi, em = row["em_min"] - tolerance, row["em_max"] + tolerance, record["exact_match"]
    inside = lo - 1e-9 <= em <= hi + 1e-9
    where = "inside" if inside else "OUTSIDE"
    msg = (f"{row['label']}: live exact match {em:.3f} at seed {record['seed']} is {where} the "
           f"committed range {row['em_min']:.3f}-{row['em_max']:.3f} over {row['seeds']} seeds "
           f"(+/- {tolerance:.3f})")  # fmt: skip
    if not inside:
        msg += (". Different hardware or library versions can move a short run; compare the "
                "versions in benchmarks/results/methods/*.json with yours, or rerun "
                "`make bench-methods` on this machine.")  # fmt: skip
    return inside, msg
