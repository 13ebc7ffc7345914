"""Register the embedded model in the Hugging Face hub cache, so its hub id loads it offline."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from huggingface_hub import constants
from huggingface_hub.file_download import repo_folder_name

from .files import atomic_folder, write_text_atomic


def embedded_revision(repo_id: str) -> str:
    """The snapshot name of the embedded copy: a fixed 40-hex "commit" no hub commit will have.

    A commit-shaped name lets transformers pass it on as ``_commit_hash``, so the files after
    ``config.json`` are served from the snapshot without asking the hub again.
    """
    return hashlib.sha1(f"peft-course embedded copy of {repo_id}".encode()).hexdigest()


def _same_file(link: Path, source: Path) -> bool:
    """``link`` in the snapshot still stands for ``source``: a link or hard link to it, or a copy
    (``shutil.copy2`` keeps size and modification time)."""
    try:
        if os.path.samefile(link, source):
            return True
        a, b = link.stat(), source.stat()
    except OSError:  # a dangling link: the cache it pointed to moved or vanished
        return False
    return not link.is_symlink() and (a.st_size, a.st_mtime_ns) == (b.st_size, b.st_mtime_ns)


def _link(source: Path, dest: Path) -> None:
    """A symbolic link to ``source`` (absolute), else a hard link, else a copy."""
    try:
        os.symlink(source, dest)
    except OSError:
        try:
            os.link(source, dest)
        except OSError:
            shutil.copy2(source, dest)


def register_snapshot(
    folder: str | Path, repo_id: str, *, marker: str, hub_cache: str | Path | None = None
) -> Path | None:
    """Make ``from_pretrained(repo_id)`` find the files of ``folder`` in the hub cache, offline.

    Writes the hub's own layout, ``models--owner--name/refs/main`` (the revision) and
    ``snapshots/<revision>/<file>`` (links to ``folder``'s files), the snapshot atomically and
    the ref after it. Cheap when already done; a registration whose links point to a cache that
    moved or vanished is rebuilt. A snapshot without ``marker`` (a file of ``folder``) is a real
    hub download: then nothing is touched and None is returned.

    Args:
        folder: a complete model folder (config.json, weights, tokenizer, ``marker``).
        repo_id: the hub id it stands for, e.g. ``HuggingFaceTB/SmolLM2-135M-Instruct``.
        marker: the name of a file only ``folder`` has, telling our snapshot from a real one.
        hub_cache: default ``huggingface_hub.constants.HF_HUB_CACHE`` (``HF_HUB_CACHE`` or
            ``HF_HOME``/hub).

    Returns:
        The snapshot folder, or None where a real download of ``repo_id`` is left alone.

    Plumbing for ``models.prepare_default_model`` (introduced in 01_peft_taxonomy).
    """
    folder = Path(folder).resolve()
    storage = Path(hub_cache or constants.HF_HUB_CACHE) / repo_folder_name(
        repo_id=repo_id, repo_type="model"
    )
    revision = embedded_revision(repo_id)
    snapshots = storage / "snapshots"
    snapshot = snapshots / revision
    if snapshots.is_dir() and any(
        p.name != revision and not p.name.startswith(".") and not os.path.lexists(p / marker)
        for p in snapshots.iterdir()
    ):
        return None  # a real download: the hub manages it
    ref = storage / "refs" / constants.DEFAULT_REVISION
    names = sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if (
        ref.is_file()
        and ref.read_text() == revision
        and all(_same_file(snapshot / name, folder / name) for name in names)
    ):
        return snapshot
    with atomic_folder(snapshot, overwrite=True) as tmp:
        for name in names:
            _link(folder / name, tmp / name)
    ref.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(ref, revision)  # the hub reads it without stripping: no newline
    return snapshot
