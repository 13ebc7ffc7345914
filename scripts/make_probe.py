"""Build the general-ability probe data/general/probe.jsonl (fixed lists: byte-identical rebuilds).

    python scripts/make_probe.py            # writes data/general/probe.jsonl and README.md
    python scripts/make_probe.py --check    # exits 1 if a rebuild would change them

benchmarks/bench_methods.py measures forgetting on it: the mean loss of the answer's words after
fine-tuning on a course task minus before. Short questions the base model mostly knows, answered
in a whole sentence, the way the chat model answers them, so the probe does not reward a model for
picking up the terse style of a task's answers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "data" / "general"

CAPITALS = {  # country -> capital
    "France": "Paris", "Germany": "Berlin", "Italy": "Rome", "Spain": "Madrid",
    "Japan": "Tokyo", "China": "Beijing", "Egypt": "Cairo", "Russia": "Moscow",
    "the United Kingdom": "London", "Greece": "Athens", "Portugal": "Lisbon",
    "Norway": "Oslo", "Ireland": "Dublin", "Austria": "Vienna", "Poland": "Warsaw",
    "Kenya": "Nairobi", "Peru": "Lima", "Argentina": "Buenos Aires", "Thailand": "Bangkok",
    "South Korea": "Seoul",
}  # fmt: skip
ARITHMETIC = [(2, "+", 3), (7, "+", 5), (10, "-", 4), (9, "-", 6), (3, "*", 4), (6, "*", 7),
              (12, "+", 8), (15, "-", 7), (5, "*", 5), (8, "*", 3)]  # fmt: skip
WORDS = {"+": "plus", "-": "minus", "*": "times"}
FACTS = [
    ("How many days are there in a week?", "There are seven days in a week."),
    ("What colour is the sky on a clear day?", "The sky is blue on a clear day."),
    ("What is the opposite of hot?", "The opposite of hot is cold."),
    ("How many legs does a spider have?", "A spider has eight legs."),
    ("What do bees make?", "Bees make honey."),
    ("What is frozen water called?", "Frozen water is called ice."),
    ("Which planet do we live on?", "We live on the planet Earth."),
    ("How many months are there in a year?", "There are twelve months in a year."),
    ("What is the largest ocean on Earth?", "The largest ocean on Earth is the Pacific Ocean."),
    (
        "Which animal is known as the king of the jungle?",
        "The lion is known as the king of the jungle.",
    ),
]


def rows() -> list[dict]:
    """Prompt/completion rows: capitals, then arithmetic, then common facts (fixed order)."""
    out = [
        {
            "prompt": f"What is the capital of {country}?",
            "completion": f"The capital of {country} is {capital}.",
        }
        for country, capital in CAPITALS.items()
    ]
    ops = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}
    out += [
        {
            "prompt": f"What is {a} {WORDS[op]} {b}?",
            "completion": f"{a} {WORDS[op]} {b} is {ops[op](a, b)}.",
        }
        for a, op, b in ARITHMETIC
    ]
    out += [{"prompt": q, "completion": a} for q, a in FACTS]
    kinds = ["capital"] * len(CAPITALS) + ["arithmetic"] * len(ARITHMETIC) + ["fact"] * len(FACTS)
    pairs = enumerate(zip(kinds, out, strict=True))
    return [{"id": f"general-{i:03d}", "kind": k, **r} for i, (k, r) in pairs]


def build() -> dict[str, str]:
    """File name (under data/general/) -> content."""
    data = rows()
    jsonl = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in data)
    readme = (
        "# general: a general-ability probe\n\n"
        "- Made by `scripts/make_probe.py` (fixed lists, no randomness): "
        f"{len(CAPITALS)} capital-city questions, {len(ARITHMETIC)} one-step arithmetic "
        f"questions and {len(FACTS)} common facts; {len(data)} rows.\n"
        "- Fields: `id`, `kind` (capital, arithmetic, fact), `prompt`, `completion` (a one-"
        "sentence answer).\n"
        "- Use: `benchmarks/bench_methods.py` measures forgetting as the mean loss of the answer's "
        "words (chat template, prompt masked, end-of-turn token apart) after fine-tuning minus "
        "before.\n"
    )
    return {"probe.jsonl": jsonl, "README.md": readme}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a rebuild would differ")
    args = parser.parse_args(argv)
    files = build()
    if args.check:
        stale = [n for n, text in files.items() if not (FOLDER / n).is_file()
                 or (FOLDER / n).read_text(encoding="utf-8") != text]  # fmt: skip
        for name in stale:
            print(f"data/general/{name} differs from a rebuild: run `python scripts/make_probe.py`")
        return 1 if stale else 0
    FOLDER.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (FOLDER / name).write_text(text, encoding="utf-8")
        print(f"wrote data/general/{name}: {text.count(chr(10))} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
