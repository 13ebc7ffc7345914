"""Train the small LoRA adapters the course ships under adapters/ (notebooks 03 and 07 load them).

    python scripts/make_adapters.py             # or: make adapters
    python scripts/make_adapters.py --task sentiment

Each adapter is trained by peft_course.train (the code path of notebook 04 and train-lora) and
written to a temporary folder that is renamed into place when complete.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from peft_course.data import load_task
from peft_course.evaluate import evaluate_task
from peft_course.models import load_model, load_tokenizer
from peft_course.train import TARGET_SETS, TrainConfig, train_lora

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {  # q,v r=8 adapters: 1.8 MB each
    task: TrainConfig(
        r=8, lora_alpha=16, lora_dropout=0.0, target_modules=TARGET_SETS["minimal"],
        lr=3e-3, num_steps=40, batch_size=4, seed=0, logging_steps=5,
    )
    for task in ("extract", "sentiment")
}


def make(task: str) -> dict:
    cfg = SETTINGS[task]
    tokenizer = load_tokenizer()
    rows = load_task(task)
    result = train_lora(load_model(), tokenizer, rows["train"], None, cfg)
    metric = evaluate_task(result.model, tokenizer, task, "test", progress=False)
    info = {
        "task": task,
        "command": f"python scripts/make_adapters.py --task {task}",
        "config": result.config,
        "trainable_parameters": result.trainable,
        "train_seconds": round(result.seconds, 1),
        "loss_history": result.history["train"],
        "test_exact_match": metric["score"],
        "test_rows": metric["n"],
    }
    target = ROOT / "adapters" / task
    target.parent.mkdir(exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{task}-", dir=target.parent))
    try:
        result.model.save_pretrained(tmp)
        (tmp / "README.md").unlink(missing_ok=True)  # PEFT's placeholder model card
        (tmp / "training_info.json").write_text(json.dumps(info, indent=2) + "\n")
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{task}: test exact match {metric['score']:.2f} -> adapters/{task}")
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=sorted(SETTINGS), action="append")
    for task in parser.parse_args().task or sorted(SETTINGS):
        make(task)


if __name__ == "__main__":
    main()
