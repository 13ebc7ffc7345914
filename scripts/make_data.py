"""Build the course data sets under data/ (deterministic: same seed -> byte-identical files).

    python scripts/make_data.py            # writes data/*.jsonl and data/*.md
    python scripts/make_data.py --check    # exits 1 if a rebuild would change data/
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from peft_course.data import TASK_INSTRUCTIONS

SEED = 1234
ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
SPLITS = {"train": 600, "validation": 100, "test": 100}

NAMES = """Alice Bruno Chen Dana Elif Farah Goran Hana Ivan Jonas Keiko Liam Maya Nikos Olga Pedro
Quinn Rosa Sven Tara Umar Vera Wei Xena Yusuf Zoe Amara Boris Carla Dmitri Esme Felix Greta Hugo
Ines Jamal Kira Lars Mina Noah Oscar Priya Rafael Sofia Tomas Uma Viktor Wanda Yara Zane Aiko Bea
Cyrus Dalia Emil Fatima Gil Hedda Ilya Juno""".split()
DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
TIMES = [f"{h}:{m}{ap}" for h in range(5, 11) for m in ("00", "15", "30", "45") for ap in ("pm",)]
TIMES += [f"{h}{ap}" for h in (11, 12) for ap in ("am",)] + [f"{h}pm" for h in range(1, 11)]
EXTRACT_TEMPLATES = [
    "Hi, could you reserve a table for {guests} on {day} at {time}? The name is {name}.",
    "Table for {guests} people, {day}, {time}, under {name} please.",
    "{name} here. I'd like to book for {guests} guests this {day} around {time}.",
    "Please book {day} at {time} for a party of {guests}. Name: {name}.",
    "Can I get a reservation at {time} on {day}? We are {guests}. It's for {name}.",
    "Booking request from {name}: {guests} persons, {day} {time}.",
    "We'd love to come on {day}! {guests} of us, at {time}. Put it under {name}, thanks.",
    "Reservation for {name}, {guests} people, {time} on {day}. My phone is 555-01{phone}.",
    "Hello! Is {time} on {day} possible for {guests}? You can reach me, {name}, at 555-02{phone}.",
    "{guests} people at {time}, {day}. Booked by {name}.",
    "My name is {name} and I want a table on {day} for {guests} at {time}.",
    "Could {name} have a table for {guests} at {time} next {day}? Room {phone} of the hotel.",
]
EXTRACT_INSTRUCTION = TASK_INSTRUCTIONS["extract"]  # one home: peft_course.data

POS = """the battery lasts for days|the screen is bright and sharp|setup took two minutes|it feels
solid and well made|the sound is rich and clear|support answered within an hour|it was worth every
penny|the camera takes stunning photos|shipping was fast|it is light and easy to carry|the keys
feel great to type on|it runs quietly|the colours are gorgeous|it charges very quickly|the
instructions were clear""".replace("\n", " ").split("|")
NEG = """the battery dies by lunch|the screen scratches easily|setup was a nightmare|it feels cheap
and flimsy|the sound is tinny|support never replied|it broke after a week|the camera is blurry in
low light|shipping took a month|it is heavy and bulky|the keys stick|the fan is very loud|the
colours look washed out|it takes ages to charge|the manual is useless""".replace("\n", " ").split("|")
PRODUCTS = """phone laptop speaker headset tablet camera kettle blender monitor keyboard router
smartwatch printer vacuum drone""".split()
SENTIMENT_INSTRUCTION = TASK_INSTRUCTIONS["sentiment"]

FACTS = {  # country -> capital
    "France": "Paris", "Germany": "Berlin", "Italy": "Rome", "Spain": "Madrid", "Portugal": "Lisbon",
    "Norway": "Oslo", "Sweden": "Stockholm", "Finland": "Helsinki", "Denmark": "Copenhagen",
    "Poland": "Warsaw", "Austria": "Vienna", "Greece": "Athens", "Ireland": "Dublin", "Japan": "Tokyo",
    "China": "Beijing", "India": "New Delhi", "Egypt": "Cairo", "Kenya": "Nairobi", "Peru": "Lima",
    "Chile": "Santiago", "Canada": "Ottawa", "Mexico": "Mexico City", "Cuba": "Havana",
    "Russia": "Moscow", "Turkey": "Ankara", "Iran": "Tehran", "Iraq": "Baghdad", "Thailand": "Bangkok",
    "Vietnam": "Hanoi", "Indonesia": "Jakarta", "Argentina": "Buenos Aires", "Colombia": "Bogota",
    "Hungary": "Budapest", "Czechia": "Prague", "Belgium": "Brussels", "Netherlands": "Amsterdam",
    "Switzerland": "Bern", "Australia": "Canberra", "New Zealand": "Wellington", "Nigeria": "Abuja",
    "Ghana": "Accra", "Morocco": "Rabat", "Ethiopia": "Addis Ababa", "Philippines": "Manila",
    "South Korea": "Seoul", "Pakistan": "Islamabad", "Ukraine": "Kyiv", "Romania": "Bucharest",
    "Bulgaria": "Sofia", "Serbia": "Belgrade", "Croatia": "Zagreb", "Iceland": "Reykjavik",
    "Venezuela": "Caracas", "Ecuador": "Quito", "Bolivia": "La Paz", "Uruguay": "Montevideo",
    "Malaysia": "Kuala Lumpur", "Nepal": "Kathmandu", "Jordan": "Amman", "Lebanon": "Beirut",
}
PREF_TEMPLATES = [
    "Can you tell me what the capital of {c} is?",
    "I'm curious: which city is the capital of {c}?",
    "What's the capital city of {c}?",
    "Quick question, what is the capital of {c}?",
    "Do you know the capital of {c}?",
]
FILLERS = [
    "Great question! I'm so glad you asked about {c}.",
    "{c} is a fascinating country with a long and rich history.",
    "Many travellers visit it every year, and there is a lot to see.",
    "Its capital, which is also an important cultural centre, is {cap}.",
    "I hope this helps, and please let me know if you have any other questions!",
    "Geography can be tricky, so it is always good to double-check facts like this.",
]


def _extract_rows(rng: random.Random, n: int) -> list[dict]:
    rows = []
    for _ in range(n):
        slots = {
            "name": rng.choice(NAMES), "guests": rng.randint(1, 12),
            "day": rng.choice(DAYS), "time": rng.choice(TIMES),
        }
        text = rng.choice(EXTRACT_TEMPLATES).format(**slots, phone=rng.randint(10, 99))
        answer = json.dumps(slots)  # key order fixed: name, guests, day, time
        rows.append({"prompt": EXTRACT_INSTRUCTION + text, "completion": answer, "fields": slots})
    return rows


def _sentiment_rows(rng: random.Random, n: int) -> list[dict]:
    rows = []
    for _ in range(n):
        label = rng.choice(["positive", "negative", "mixed"])
        product = rng.choice(PRODUCTS)
        if label == "mixed":
            clauses = [rng.choice(POS), rng.choice(NEG)]
            rng.shuffle(clauses)
            body = f"{clauses[0].capitalize()}, but {clauses[1]}."
        else:
            pool = POS if label == "positive" else NEG
            a, b = rng.sample(pool, 2)
            body = f"{a.capitalize()} and {b}."
        text = f"My new {product}: {body}"
        rows.append({"prompt": SENTIMENT_INSTRUCTION + text, "completion": label, "label": label})
    return rows


def _preference_rows(rng: random.Random, countries: list[str]) -> list[dict]:
    rows = []
    for c in countries:
        cap = FACTS[c]
        for template in rng.sample(PREF_TEMPLATES, 3):
            chosen = f"The capital of {c} is {cap}."
            filler = [f.format(c=c, cap=cap) for f in FILLERS]
            rejected = " ".join([filler[0], filler[1], filler[2], filler[3], rng.choice(filler[4:])])
            rows.append({"prompt": template.format(c=c), "chosen": chosen, "rejected": rejected,
                         "answer": cap})
    return rows


CARDS = {
    "extract": """# extract: booking requests to JSON

- Made by `scripts/make_data.py` (seed {seed}): {n_templates} request templates filled with random
  names, party sizes (1-12), weekdays and times; some templates add a phone or room number as a
  distractor. No prompt appears in two splits.
- Splits: {splits}.
- Fields: `id`, `prompt` (instruction + request), `completion` (compact JSON with the keys
  name, guests, day, time in that order), `fields` (the same values as an object).
- Metric: exact match of the first JSON object in the answer with the reference object
  (`peft_course.evaluate.extract_match`).
- Base model (SmolLM2-135M-Instruct, greedy, test split): {base}.
""",
    "sentiment": """# sentiment: one-word review labels

- Made by `scripts/make_data.py` (seed {seed}): product reviews of two clauses drawn from
  {n_pos} positive and {n_neg} negative phrases; `mixed` reviews join one of each with "but".
  Labels are balanced in expectation (uniform draw). No prompt appears in two splits.
- Splits: {splits}.
- Fields: `id`, `prompt`, `completion` (positive | negative | mixed), `label`.
- Metric: exact match of the one-word answer, ignoring case, spaces and a final period
  (`peft_course.evaluate.label_match`).
- Base model (SmolLM2-135M-Instruct, greedy, test split): {base}.
""",
    "preferences": """# preferences: concise versus padded answers (for DPO)

- Made by `scripts/make_data.py` (seed {seed}): questions about the capitals of {n_countries}
  countries in {n_templates} phrasings. `chosen` is one sentence naming the capital; `rejected`
  states the same fact inside about 60 words of filler. Test prompts ask about {n_test_countries}
  countries that never appear in training.
- Splits: train {n_train} pairs, test {n_test} pairs.
- Fields: `id`, `prompt`, `chosen`, `rejected`, `answer` (the capital).
- Measurable property: words per answer (chosen <= 12, rejected >= 40) and whether the answer
  names the capital.
- Base model (SmolLM2-135M-Instruct, greedy, test prompts): {base}.
""",
}


def _base_line(task: str) -> str:
    path = DATA / "base_scores.json"
    if not path.is_file():
        return "not measured yet (run `python scripts/measure_base.py`)"
    scores = json.loads(path.read_text()).get(task)
    if scores is None:
        return "not measured yet"
    if task == "preferences":
        return (f"{scores['mean_words']} words per answer on average, names the capital in "
                f"{scores['names_capital']:.0%} of {scores['rows']} answers "
                "(`scripts/measure_base.py`)")
    return (f"exact match {scores['exact_match']:.2f} on {scores['rows']} rows "
            "(`scripts/measure_base.py`)")


def build() -> dict[str, str]:
    """All data files as {relative path: text}."""
    rng = random.Random(SEED)
    files = {}
    for task, maker in (("extract", _extract_rows), ("sentiment", _sentiment_rows)):
        seen: set[str] = set()
        for split, n in SPLITS.items():
            rows = []
            while len(rows) < n:  # no prompt appears in two splits
                row = maker(rng, 1)[0]
                if row["prompt"] not in seen:
                    seen.add(row["prompt"])
                    rows.append({"id": f"{task}-{split}-{len(rows):04d}", **row})
            files[f"{task}/{split}.jsonl"] = "".join(json.dumps(r) + "\n" for r in rows)
    countries = sorted(FACTS)
    rng.shuffle(countries)
    held_out = countries[:12]  # test prompts ask about countries never seen in training
    for split, group in (("train", countries[12:]), ("test", held_out)):
        rows = _preference_rows(rng, group)
        rows = [{"id": f"preferences-{split}-{i:04d}", **r} for i, r in enumerate(rows)]
        files[f"preferences/{split}.jsonl"] = "".join(json.dumps(r) + "\n" for r in rows)
    splits = ", ".join(f"{k} {v}" for k, v in SPLITS.items())
    files["extract/README.md"] = CARDS["extract"].format(
        seed=SEED, n_templates=len(EXTRACT_TEMPLATES), splits=splits, base=_base_line("extract"))
    files["sentiment/README.md"] = CARDS["sentiment"].format(
        seed=SEED, n_pos=len(POS), n_neg=len(NEG), splits=splits, base=_base_line("sentiment"))
    n_test = files["preferences/test.jsonl"].count("\n")
    files["preferences/README.md"] = CARDS["preferences"].format(
        seed=SEED, n_countries=len(FACTS), n_templates=len(PREF_TEMPLATES),
        n_test_countries=len(held_out), n_train=files["preferences/train.jsonl"].count("\n"),
        n_test=n_test, base=_base_line("preferences"))
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if data/ differs from a rebuild")
    args = parser.parse_args()
    files = build()
    if args.check:
        stale = [p for p, text in files.items() if not (DATA / p).is_file()
                 or (DATA / p).read_text() != text]
        for p in stale:
            print(f"data/{p} differs from a rebuild: run `python scripts/make_data.py`")
        return 1 if stale else 0
    for rel, text in files.items():
        path = DATA / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote data/{rel}: {text.count(chr(10))} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
