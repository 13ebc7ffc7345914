"""Measure the untuned embedded model on each task's test split -> data/base_scores.json.

    python scripts/measure_base.py && python scripts/make_data.py   # cards pick the figures up

Greedy decoding, the full test splits, the same code the notebooks use (peft_course.evaluate).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from peft_course.data import TASKS, load_preferences
from peft_course.evaluate import evaluate_task, generate
from peft_course.models import load_model, load_tokenizer

OUT = Path(__file__).resolve().parents[1] / "data" / "base_scores.json"


def main() -> None:
    model, tokenizer = load_model(), load_tokenizer()
    scores = {}
    for task in TASKS:
        result = evaluate_task(model, tokenizer, task, "test")
        scores[task] = {"exact_match": result["score"], "rows": result["n"]}
        print(f"{task}: exact match {result['score']:.2f} on {result['n']} test rows")
    prefs = load_preferences("test")
    answers = generate(model, tokenizer, list(prefs["prompt"]), max_new_tokens=96)
    words = [len(a.split()) for a in answers]
    named = [cap in a for cap, a in zip(prefs["answer"], answers, strict=True)]
    scores["preferences"] = {
        "mean_words": round(statistics.mean(words), 1),
        "names_capital": round(sum(named) / len(named), 2),
        "rows": len(answers),
    }
    print(f"preferences: {scores['preferences']}")
    OUT.write_text(json.dumps(scores, indent=2) + "\n")


if __name__ == "__main__":
    main()
