"""Read and check `train-lora` data files: JSONL in chat, prompt/completion or plain-text form."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datasets import Dataset

IGNORE_INDEX = -100  # as data.IGNORE_INDEX (imported lazily: `train-lora --help` stays fast)
FORMATS = ("messages", "prompt-completion", "text")
# Course tasks, recognised by the start of their prompts: their metric applies.
TASK_PREFIXES = {
    "extract": "Extract the booking from the request as JSON",
    "sentiment": "Classify the sentiment",
}


class UsageError(ValueError):
    """Bad input to `train-lora`: reported with exit code 2; the message names the fix."""


class DataError(UsageError):
    """Bad input data; the message names the problem and the fix."""


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_jsonl(path: str | Path, flag: str = "--data") -> list[dict]:
    """All rows of a JSONL file; a ``DataError`` for a missing or empty file or a bad line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{flag} {path}: file not found. Check the path (relative paths start "
                        f"from {Path.cwd()}).")
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{flag} {path}: line {number} is not valid JSON ({err.msg} at "
                                f"column {err.colno}). Fix or delete that line: each line must be "
                                "one JSON object.") from err
            if not isinstance(row, dict):
                raise DataError(f"{flag} {path}: line {number} is a JSON {type(row).__name__}, "
                                "not an object. Each line must be one JSON object.")
            rows.append(row)
    if not rows:
        raise DataError(f"{flag} {path}: the file is empty. Give a JSONL file with one example "
                        "per line.")
    return rows


def _row_format(row: dict) -> str | None:
    if isinstance(row.get("messages"), list):
        return "messages"
    if isinstance(row.get("prompt"), str) and isinstance(row.get("completion"), str):
        return "prompt-completion"
    if isinstance(row.get("text"), str):
        return "text"
    return None


def _check_messages(messages: list) -> str | None:
    """None if usable, else what is wrong."""
    if not messages:
        return "an empty messages list"
    for m in messages:
        if not (isinstance(m, dict) and isinstance(m.get("role"), str)
                and isinstance(m.get("content"), str)):
            return 'a message without string "role" and "content"'
    if messages[-1]["role"] != "assistant":
        return "a conversation that does not end with an assistant message (the answer to learn)"
    return None


def detect_format(rows: list[dict], path, forced: str | None = None, flag: str = "--data") -> str:
    """The rows' format (``messages``, ``prompt-completion`` or ``text``), checked on every row.

    Introduced in 04_lora_sft.
    """
    fmt = forced or _row_format(rows[0])
    expected = {"messages": '{"messages": [{"role": ..., "content": ...}, ...]}',
                "prompt-completion": '{"prompt": "...", "completion": "..."}',
                "text": '{"text": "..."}'}
    if fmt is None:
        raise DataError(f"{flag} {path}: line 1 has an unknown shape (keys: "
                        f"{', '.join(sorted(rows[0])) or 'none'}). Each row must be one of "
                        + "; ".join(expected.values()) + ".")
    for number, row in enumerate(rows, start=1):
        if _row_format(row) != fmt and not (forced and _fits(row, fmt)):
            raise DataError(f"{flag} {path}: row {number} does not have the {fmt} shape "
                            f"{expected[fmt]} (keys: {', '.join(sorted(row)) or 'none'}). "
                            "Use one format for the whole file.")
        if fmt == "messages" and (problem := _check_messages(row["messages"])):
            raise DataError(f"{flag} {path}: row {number} has {problem}.")
    return fmt


def _fits(row: dict, fmt: str) -> bool:
    if fmt == "messages":
        return isinstance(row.get("messages"), list)
    if fmt == "prompt-completion":
        return isinstance(row.get("prompt"), str) and isinstance(row.get("completion"), str)
    return isinstance(row.get("text"), str)


def prompt_rows(rows: list[dict], fmt: str) -> list[dict] | None:
    """``{"prompt", "completion"}`` rows for generation metrics, or None where the format has
    no single user prompt (plain text, multi-turn chats)."""
    if fmt == "prompt-completion":
        return [{"prompt": r["prompt"], "completion": r["completion"]} for r in rows]
    if fmt == "messages" and all(
        [m["role"] for m in r["messages"]] == ["user", "assistant"] for r in rows
    ):
        return [{"prompt": r["messages"][0]["content"], "completion": r["messages"][1]["content"]}
                for r in rows]
    return None


def _tokenize_messages(tokenizer, messages: list[dict], max_length: int) -> dict:
    # as data.tokenize_example, for a whole conversation: loss on the last assistant turn only
    prompt_text = tokenizer.apply_chat_template(messages[:-1], tokenize=False,
                                                add_generation_prompt=True)
    full_text = tokenizer.apply_chat_template(messages, tokenize=False)
    if not full_text.startswith(prompt_text):
        raise DataError("The chat template does not extend the conversation; cannot mask it.")
    prompt_ids = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(full_text[len(prompt_text):].rstrip("\n"),
                           add_special_tokens=False)["input_ids"]
    input_ids = (prompt_ids + answer_ids)[:max_length]
    labels = ([IGNORE_INDEX] * len(prompt_ids) + answer_ids)[:max_length]
    return {"input_ids": input_ids, "attention_mask": [1] * len(input_ids), "labels": labels}


def _tokenize_text(tokenizer, text: str, max_length: int) -> dict:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    ids = ids[:max_length]
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": list(ids)}


def tokenize_rows(rows: list[dict], fmt: str, tokenizer, max_length: int) -> Dataset:
    """Token ids and labels (loss on answers; on every token for plain text); rows whose answer
    ``max_length`` cuts away entirely are dropped. Prompt/completion rows go through
    ``data.tokenize_dataset``, the notebooks' code path."""
    from datasets import Dataset

    from .data import tokenize_dataset

    if fmt == "prompt-completion":
        return tokenize_dataset(Dataset.from_list(prompt_rows(rows, fmt)), tokenizer, max_length)
    if fmt == "messages":
        encoded = [_tokenize_messages(tokenizer, r["messages"], max_length) for r in rows]
    else:
        encoded = [_tokenize_text(tokenizer, r["text"], max_length) for r in rows]
    kept = [e for e in encoded if any(t != IGNORE_INDEX for t in e["labels"])]
    return Dataset.from_list(kept) if kept else Dataset.from_dict(
        {"input_ids": [], "attention_mask": [], "labels": []})


def shortest_prompt(rows: list[dict], fmt: str, tokenizer) -> int:
    """Tokens before the first answer token in the shortest example (for the max-length error)."""
    if fmt == "text":
        return 0
    if fmt == "prompt-completion":
        convs = [[{"role": "user", "content": r["prompt"]}] for r in rows]
    else:
        convs = [r["messages"][:-1] for r in rows]
    texts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
             for c in convs]
    return min(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)


def detect_task(rows: list[dict] | None) -> str | None:
    """``extract``/``sentiment`` when every prompt is the course task's, else None."""
    if not rows:
        return None
    for task, prefix in TASK_PREFIXES.items():
        if all(r["prompt"].startswith(prefix) for r in rows):
            return task
    return None
