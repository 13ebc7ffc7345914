"""Course data: load the JSONL tasks with `datasets`, apply the chat template, mask prompts."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from datasets import Dataset, DatasetDict, load_dataset

from .course import repo_path

TASKS = ("extract", "sentiment")
IGNORE_INDEX = -100  # label value the loss skips (prompt tokens and padding)


def data_dir() -> Path:
    """The repository's data/ folder (``PEFT_COURSE_DATA`` overrides)."""
    env = os.environ.get("PEFT_COURSE_DATA")
    return Path(env) if env else repo_path("data")


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
        return load_dataset("json", data_files={split: files[split]}, split=split)
    return load_dataset("json", data_files=files)


def load_preferences(split: str | None = None) -> Dataset | DatasetDict:
    """Preference pairs (``prompt``, ``chosen``, ``rejected``) for DPO. Introduced in 06_trl_peft."""
    folder = data_dir() / "preferences"
    files = {s: str(folder / f"{s}.jsonl") for s in ("train", "test")}
    if split is not None:
        return load_dataset("json", data_files={split: files[split]}, split=split)
    return load_dataset("json", data_files=files)


def chat_prompt(tokenizer, prompt: str) -> str:
    """The prompt as the model sees it: chat template with the assistant turn opened.

    Introduced in 03_loading_adapters.
    """
    messages = [{"role": "user", "content": prompt}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def tokenize_example(tokenizer, prompt: str, completion: str, max_length: int = 256) -> dict:
    """Token ids for prompt + completion, with labels = -100 on the prompt (loss on the answer).

    The completion ends with the template's end-of-turn token so the model learns to stop.
    Returns lists: ``input_ids``, ``attention_mask``, ``labels`` (all the same length).

    Introduced in 04_lora_sft.
    """
    prompt_text = chat_prompt(tokenizer, prompt)
    full_text = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}, {"role": "assistant", "content": completion}],
        tokenize=False,
    )
    if not full_text.startswith(prompt_text):
        raise ValueError("The chat template does not extend the prompt; cannot mask it.")
    prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(full_text[len(prompt_text):].rstrip("\n"), add_special_tokens=False)[
        "input_ids"
    ]
    input_ids = (prompt_ids + answer_ids)[:max_length]
    labels = ([IGNORE_INDEX] * len(prompt_ids) + answer_ids)[:max_length]
    return {"input_ids": input_ids, "attention_mask": [1] * len(input_ids), "labels": labels}


def tokenize_dataset(dataset: Dataset, tokenizer, max_length: int = 256) -> Dataset:
    """Map ``tokenize_example`` over a prompt/completion dataset; drops rows whose answer was
    cut away entirely by ``max_length``. Introduced in 04_lora_sft."""
    tokenized = dataset.map(
        lambda row: tokenize_example(tokenizer, row["prompt"], row["completion"], max_length),
        remove_columns=dataset.column_names,
    )
    return tokenized.filter(lambda row: any(t != IGNORE_INDEX for t in row["labels"]))


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
