"""Course data: load the JSONL tasks with `datasets`, apply the chat template, mask prompts."""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import datasets
import torch
from datasets import Dataset, DatasetDict

from .course import repo_path

TASKS = ("extract", "sentiment")
# The instruction every prompt of a task starts with (scripts/make_data.py writes it; evaluation
# and `train-lora` recognise a task by it).
TASK_INSTRUCTIONS = {
    "extract": "Extract the booking from the request as JSON with the keys name, guests, day and "
    "time.\nRequest: ",
    "sentiment": "Classify the sentiment of this review as positive, negative or mixed. Answer "
    "with one word.\nReview: ",
}
IGNORE_INDEX = -100  # label value the loss skips (prompt tokens and padding)


def data_dir() -> Path:
    """The repository's data/ folder (``PEFT_COURSE_DATA`` overrides)."""
    env = os.environ.get("PEFT_COURSE_DATA")
    return Path(env) if env else repo_path("data")


@contextmanager
def _quiet_progress():
    """No "Generating split" or "Map" bar while `datasets` caches or maps course rows (a few hundred).

    The bar appears only on a machine whose datasets cache is fresh, so a notebook cell that loads
    data would print on a fresh clone and not on a second run.
    """
    was_disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            datasets.enable_progress_bars()


def _load_json(files: dict[str, str], split: str | None) -> Dataset | DatasetDict:
    with _quiet_progress():
        return datasets.load_dataset("json", data_files=files, split=split)


def load_task(task: str, split: str | None = None) -> Dataset | DatasetDict:
    """Load a course task (``extract`` or ``sentiment``), all splits or one.

    Rows have ``id``, ``prompt`` and ``completion`` (plus task fields).

    Introduced in 01_peft_taxonomy.
    """
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; choose one of {TASKS}.")
    folder = data_dir() / task
    files = {s: str(folder / f"{s}.jsonl") for s in ("train", "validation", "test")}
    if split is not None:
        if split not in files:
            raise ValueError(f"Unknown split {split!r}; choose one of {tuple(files)}.")
        return _load_json({split: files[split]}, split)
    return _load_json(files, None)


def load_preferences(split: str | None = None) -> Dataset | DatasetDict:
    """Preference pairs (``prompt``, ``chosen``, ``rejected``) for DPO. Introduced in 06_trl_peft."""
    folder = data_dir() / "preferences"
    files = {s: str(folder / f"{s}.jsonl") for s in ("train", "test")}
    if split is not None:
        return _load_json({split: files[split]}, split)
    return _load_json(files, None)


def detect_task(prompts: list[str]) -> str | None:
    """The course task (``extract``/``sentiment``) whose instruction starts every prompt, else
    None. Introduced in 04_lora_sft."""
    for task, instruction in TASK_INSTRUCTIONS.items():
        if prompts and all(p.startswith(instruction) for p in prompts):
            return task
    return None


def chat_prompt(tokenizer, prompt: str) -> str:
    """The prompt as the model sees it: chat template with the assistant turn opened.

    Introduced in 03_loading_adapters.
    """
    messages = [{"role": "user", "content": prompt}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def prompt_answer_ids(tokenizer, messages: list[dict]) -> tuple[list[int], list[int]]:
    """(prompt ids, answer ids) of a conversation whose last message is the assistant's answer.

    The prompt is every earlier message through the chat template with the assistant turn opened;
    the answer is the rest of the templated conversation, ending with the end-of-turn token.

    Introduced in 04_lora_sft.
    """
    prompt_text = tokenizer.apply_chat_template(
        messages[:-1], tokenize=False, add_generation_prompt=True
    )
    full_text = tokenizer.apply_chat_template(messages, tokenize=False)
    if not full_text.startswith(prompt_text):
        raise ValueError("The chat template does not extend the prompt; cannot mask it.")
    prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(full_text[len(prompt_text) :].rstrip("\n"), add_special_tokens=False)[
        "input_ids"
    ]
    return prompt_ids, answer_ids


def masked_example(prompt_ids: list[int], answer_ids: list[int], max_length: int) -> dict:
    """``input_ids`` = prompt + answer and ``labels`` = -100 on the prompt, cut to ``max_length``.

    Introduced in 04_lora_sft (Exercise 1 writes it).
    """
    input_ids = (list(prompt_ids) + list(answer_ids))[:max_length]
    labels = ([IGNORE_INDEX] * len(prompt_ids) + list(answer_ids))[:max_length]
    return {"input_ids": input_ids, "attention_mask": [1] * len(input_ids), "labels": labels}


def tokenize_example(tokenizer, prompt: str, completion: str, max_length: int = 256) -> dict:
    """Token ids for prompt + completion, with labels = -100 on the prompt (loss on the answer).

    The completion ends with the template's end-of-turn token so the model learns to stop.
    Returns lists: ``input_ids``, ``attention_mask``, ``labels`` (all the same length).

    Introduced in 04_lora_sft.
    """
    messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": completion}]
    return masked_example(*prompt_answer_ids(tokenizer, messages), max_length)


def tokenize_dataset(dataset: Dataset, tokenizer, max_length: int = 256) -> Dataset:
    """Map ``tokenize_example`` over a prompt/completion dataset; drops rows whose answer was
    cut away entirely by ``max_length``. Introduced in 04_lora_sft."""
    with _quiet_progress():
        tokenized = dataset.map(
            lambda row: tokenize_example(tokenizer, row["prompt"], row["completion"], max_length),
            remove_columns=dataset.column_names,
        )
        return tokenized.filter(_has_answer)


def _has_answer(example: dict) -> bool:
    return any(t != IGNORE_INDEX for t in example["labels"])


def tokenize_rows(rows: list[dict], fmt: str, tokenizer, max_length: int = 256) -> Dataset:
    """Tokenize rows of one format: ``prompt-completion`` (as ``tokenize_dataset``), ``messages``
    (loss on the last assistant message; earlier turns are context) or ``text`` (plain language
    modelling: loss on every token). Rows whose answer ``max_length`` cuts away are dropped.

    Introduced in 04_lora_sft (the `train-lora` data formats).
    """
    if fmt == "prompt-completion":
        rows = [{"prompt": r["prompt"], "completion": r["completion"]} for r in rows]
        return tokenize_dataset(Dataset.from_list(rows), tokenizer, max_length)
    if fmt == "messages":
        encoded = [
            masked_example(*prompt_answer_ids(tokenizer, r["messages"]), max_length) for r in rows
        ]
    elif fmt == "text":
        encoded = [
            masked_example(
                [],
                tokenizer(r["text"], add_special_tokens=False)["input_ids"]
                + [tokenizer.eos_token_id],
                max_length,
            )
            for r in rows
        ]
    else:
        raise ValueError(f"unknown format {fmt!r}; choose prompt-completion, messages or text")
    kept = [e for e in encoded if _has_answer(e)]
    if not kept:
        return Dataset.from_dict({"input_ids": [], "attention_mask": [], "labels": []})
    return Dataset.from_list(kept)


@dataclass
class CompletionCollator:
    """Right-pads a batch: ``input_ids`` with the pad id, ``labels`` with -100.

    Introduced in 04_lora_sft.
    """

    pad_token_id: int

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        width = max(len(f["input_ids"]) for f in features)

        def pad(key: str, value: int) -> torch.Tensor:
            return torch.tensor([f[key] + [value] * (width - len(f[key])) for f in features])

        return {
            "input_ids": pad("input_ids", self.pad_token_id),  # (batch, seq)
            "attention_mask": pad("attention_mask", 0),
            "labels": pad("labels", IGNORE_INDEX),
        }
