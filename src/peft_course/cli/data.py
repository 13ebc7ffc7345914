"""Read and check `train-lora` data files: JSONL in chat, prompt/completion or plain-text form.
(Tokenizing them is `peft_course.data.tokenize_rows`, the notebooks' prompt masking.)"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .args import FORMATS, UsageError


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
        raise DataError(
            f"{flag} {path}: file not found. Check the path (relative paths start "
            f"from {Path.cwd()})."
        )
    rows = []
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:  # a byte-order mark on line 1 is allowed (some editors write one)
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as err:
                raise DataError(
                    f"{flag} {path}: line {number} is not UTF-8 text (byte 0x{raw[err.start]:02x} "
                    f"at column {err.start + 1}). Save the file as UTF-8, e.g. "
                    f"`iconv -f latin1 -t utf-8 {path.name} > fixed.jsonl` if it is Latin-1."
                ) from err
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(
                    f"{flag} {path}: line {number} is not valid JSON ({err.msg} at "
                    f"column {err.colno}). Fix or delete that line: each line must be "
                    "one JSON object."
                ) from err
            if not isinstance(row, dict):
                raise DataError(
                    f"{flag} {path}: line {number} is a JSON {type(row).__name__}, "
                    "not an object. Each line must be one JSON object."
                )
            rows.append(row)
    if not rows:
        raise DataError(
            f"{flag} {path}: the file is empty. Give a JSONL file with one example per line."
        )
    return rows


def _fits(row: dict, fmt: str) -> bool:
    if fmt == "messages":
        return isinstance(row.get("messages"), list)
    if fmt == "prompt-completion":
        return isinstance(row.get("prompt"), str) and isinstance(row.get("completion"), str)
    return isinstance(row.get("text"), str)


def _row_format(row: dict) -> str | None:
    return next((fmt for fmt in FORMATS if _fits(row, fmt)), None)  # in FORMATS' order


def _check_messages(messages: list) -> str | None:
    """None if usable, else what is wrong."""
    if not messages:
        return "an empty messages list"
    for m in messages:
        if not (
            isinstance(m, dict)
            and isinstance(m.get("role"), str)
            and isinstance(m.get("content"), str)
        ):
            return 'a message without string "role" and "content"'
    if messages[-1]["role"] != "assistant":
        return "a conversation that does not end with an assistant message (the answer to learn)"
    return None


def detect_format(rows: list[dict], path, forced: str | None = None, flag: str = "--data") -> str:
    """The rows' format (``messages``, ``prompt-completion`` or ``text``), checked on every row.

    Introduced in 04_lora_sft.
    """
    fmt = forced or _row_format(rows[0])
    expected = {
        "messages": '{"messages": [{"role": ..., "content": ...}, ...]}',
        "prompt-completion": '{"prompt": "...", "completion": "..."}',
        "text": '{"text": "..."}',
    }
    if fmt is None:
        raise DataError(
            f"{flag} {path}: line 1 has an unknown shape (keys: "
            f"{', '.join(sorted(rows[0])) or 'none'}). Each row must be one of "
            + "; ".join(expected.values())
            + "."
        )
    for number, row in enumerate(rows, start=1):
        if _row_format(row) != fmt and not (forced and _fits(row, fmt)):
            raise DataError(
                f"{flag} {path}: row {number} does not have the {fmt} shape "
                f"{expected[fmt]} (keys: {', '.join(sorted(row)) or 'none'}). "
                "Use one format for the whole file."
            )
        if fmt == "messages" and (problem := _check_messages(row["messages"])):
            raise DataError(f"{flag} {path}: row {number} has {problem}.")
    return fmt


def prompt_rows(rows: list[dict], fmt: str) -> list[dict] | None:
    """``{"prompt", "completion"}`` rows for generation metrics, or None where the format has
    no single user prompt (plain text, multi-turn chats)."""
    if fmt == "prompt-completion":
        return [{"prompt": r["prompt"], "completion": r["completion"]} for r in rows]
    if fmt == "messages" and all(
        [m["role"] for m in r["messages"]] == ["user", "assistant"] for r in rows
    ):
        return [
            {"prompt": r["messages"][0]["content"], "completion": r["messages"][1]["content"]}
            for r in rows
        ]
    return None


def shortest_prompt(rows: list[dict], fmt: str, tokenizer) -> int:
    """Tokens before the first answer token in the shortest example (for the max-length error)."""
    from ..data import prompt_answer_ids

    if fmt == "text":
        return 0
    if fmt == "prompt-completion":
        convs = [
            [
                {"role": "user", "content": r["prompt"]},
                {"role": "assistant", "content": r["completion"]},
            ]
            for r in rows
        ]
    else:
        convs = [r["messages"] for r in rows]
    return min(len(prompt_answer_ids(tokenizer, c)[0]) for c in convs)
