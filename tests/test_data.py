"""Course data: deterministic rebuild, every row well formed, metrics, masking and batching."""

import json
import sys
from pathlib import Path

import pytest

from peft_course import data, evaluate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import make_data  # noqa: E402


def test_rebuild_is_byte_identical():
    first, second = make_data.build(), make_data.build()
    assert first == second
    for rel, text in first.items():
        assert (ROOT / "data" / rel).read_text() == text, f"data/{rel} is stale"


def _rows(rel):
    lines = (ROOT / "data" / rel).read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize("task", data.TASKS)
def test_task_rows_parse_and_splits_are_disjoint(task):
    prompts = set()
    for split, size in make_data.SPLITS.items():
        rows = _rows(f"{task}/{split}.jsonl")
        assert len(rows) == size
        for row in rows:
            assert row["prompt"] and row["completion"]
            if task == "extract":
                fields = json.loads(row["completion"])
                assert list(fields) == ["name", "guests", "day", "time"]
                assert fields == row["fields"] and isinstance(fields["guests"], int)
                assert fields["name"] in row["prompt"] and fields["time"] in row["prompt"]
            else:
                assert row["completion"] in ("positive", "negative", "mixed")
        split_prompts = {r["prompt"] for r in rows}
        assert not split_prompts & prompts, f"{task}/{split} shares prompts with another split"
        prompts |= split_prompts


def test_preference_rows_separate_by_length():
    train, test = _rows("preferences/train.jsonl"), _rows("preferences/test.jsonl")
    assert len(train) == 144 and len(test) == 36
    for row in train + test:
        assert row["answer"] in row["chosen"] and row["answer"] in row["rejected"]
        assert len(row["chosen"].split()) <= 12 < 40 <= len(row["rejected"].split())
    held_out = {r["answer"] for r in test}
    assert not held_out & {r["answer"] for r in train}  # test countries never trained on


@pytest.mark.parametrize("task", data.TASKS)
def test_metric_is_one_on_references_and_lower_on_wrong_answers(task):
    refs = [r["completion"] for r in _rows(f"{task}/test.jsonl")]
    assert evaluate.score(task, refs, refs) == 1.0
    if task == "extract":
        wrong = [r.replace('"guests": ', '"guests": 1') for r in refs]  # 4 -> 14
        assert evaluate.extract_match("```json\n" + refs[0] + "\n```", refs[0]) == 1.0
        assert evaluate.extract_match(refs[0].replace("}", ""), refs[0]) == 0.0  # not JSON
    else:
        wrong = [{"positive": "negative"}.get(r, "positive") for r in refs]
        assert evaluate.label_match("Positive.", "positive") == 1.0
        assert evaluate.label_match("It is positive", "positive") == 0.0
    assert evaluate.score(task, wrong, refs) < 1.0
    assert evaluate.score(task, [""] * len(refs), refs) == 0.0


def test_load_task_with_datasets():
    splits = data.load_task("extract")
    assert {k: len(v) for k, v in splits.items()} == make_data.SPLITS
    assert data.load_task("sentiment", "test")[0]["completion"] in ("positive", "negative", "mixed")
    with pytest.raises(ValueError, match="Unknown task"):
        data.load_task("poetry")
    assert len(data.load_preferences("test")) == 36


def test_prompt_is_masked_and_answer_ends_the_turn(tokenizer):
    row = data.load_task("extract", "train")[0]
    ex = data.tokenize_example(tokenizer, row["prompt"], row["completion"])
    assert len(ex["input_ids"]) == len(ex["labels"]) == len(ex["attention_mask"])
    answer = [t for t, lab in zip(ex["input_ids"], ex["labels"], strict=True) if lab != -100]
    assert tokenizer.decode(answer) == row["completion"] + "<|im_end|>"
    prompt_ids = ex["input_ids"][: ex["labels"].index(answer[0])]
    assert tokenizer.decode(prompt_ids) == data.chat_prompt(tokenizer, row["prompt"])


def test_collator_pads_right_and_ignores_padding():
    batch = data.CompletionCollator(pad_token_id=2)(
        [
            {"input_ids": [5, 6, 7], "attention_mask": [1, 1, 1], "labels": [-100, 6, 7]},
            {"input_ids": [8], "attention_mask": [1], "labels": [8]},
        ]
    )
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 2, 2]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 6, 7], [8, -100, -100]]


@pytest.mark.parametrize("task", data.TASKS)
def test_task_detection_is_tied_to_the_generator(task):
    """The instruction `detect_task` (the CLI's metric, evaluation) looks for is the one the data
    generator writes: one object, and every prompt of every split starts with it."""
    generated = {
        "extract": make_data.EXTRACT_INSTRUCTION,
        "sentiment": make_data.SENTIMENT_INSTRUCTION,
    }[task]
    assert generated is data.TASK_INSTRUCTIONS[task]
    for split in make_data.SPLITS:
        prompts = [row["prompt"] for row in _rows(f"{task}/{split}.jsonl")]
        assert data.detect_task(prompts) == task
    other = next(t for t in data.TASKS if t != task)
    mixed = [_rows(f"{task}/test.jsonl")[0]["prompt"], _rows(f"{other}/test.jsonl")[0]["prompt"]]
    assert data.detect_task(mixed) is None
    assert data.detect_task([prompts[0].lower()]) is None


def test_loading_on_a_fresh_cache_prints_nothing(tmp_path, monkeypatch, capfd, tokenizer):
    # A fresh datasets cache makes `datasets` draw a "Generating split" bar; in a notebook that is
    # an output the second run does not have, so nbval saw it only on a fresh clone.
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets")
    rows = data.load_task("extract", "validation")
    assert len(rows) == make_data.SPLITS["validation"]
    assert len(data.tokenize_dataset(rows.select(range(8)), tokenizer)) == 8
    assert len(data.load_preferences()["train"]) > 0
    captured = capfd.readouterr()
    for bar in ("Generating", "Map", "Filter"):
        assert bar not in captured.err + captured.out, captured.err[-300:]
    assert list((tmp_path / "datasets").iterdir()), "the fresh cache was not used"
    assert not datasets.are_progress_bars_disabled(), "loading left progress bars off"
