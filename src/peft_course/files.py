"""Atomic writes: a folder or a file appears whole under its final name, or not at all."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_folder(target: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty folder next to ``target``; when the block ends without an error it is
    renamed to ``target`` (an old ``target`` is replaced only then, with ``overwrite``), and on an
    error it is deleted, so ``target`` is never half-written.

    Raises:
        FileExistsError: ``target`` exists (before or after the block) and ``overwrite`` is False.

    Plumbing: the model cache, saved adapters, the `train-lora` output.
    """
    target = Path(target)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    tmp.chmod(0o755)  # mkdtemp makes it 0700: a shared cache or repo must stay readable
    try:
        yield tmp
        for path in tmp.rglob("*"):  # safetensors writes 0600: a shared cache must stay readable
            path.chmod(0o755 if path.is_dir() else 0o644)
        old = None
        if target.exists():
            if not overwrite:
                raise FileExistsError(f"{target} appeared while it was being written")
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            target.rename(old)
        tmp.rename(target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (never half-written).

    Plumbing (training_info.json, scripts/notebook_times.json)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
