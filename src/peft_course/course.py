"""Course plumbing: the repository URL (one setting), Colab badges and links, notebook list."""

from __future__ import annotations

import os

# The one place that holds the repository's location; badges and the Colab setup use it.
# A fork: `python scripts/sync_colab.py --repo OWNER/NAME` rewrites the default below.
REPO = os.environ.get("PEFT_COURSE_REPO", "peft-course/peft-course")
BRANCH = "main"
REPO_URL = f"https://github.com/{REPO}"

NOTEBOOKS = [
    "01_peft_taxonomy",
    "02_lora_from_scratch",
    "03_loading_adapters",
    "04_lora_sft",
    "05_olora",
    "06_trl_peft",
    "07_merging",
    "08_lora_hyperparameters",
    "09_qlora_methods",
]


def colab_url(path: str) -> str:
    """Open-in-Colab link for a notebook path relative to the repository root."""
    return f"https://colab.research.google.com/github/{REPO}/blob/{BRANCH}/{path}"


def colab_badge(path: str) -> str:
    """Markdown Open-in-Colab badge for a notebook path relative to the repository root."""
    img = "https://colab.research.google.com/assets/colab-badge.svg"
    return f"[![Open In Colab]({img})]({colab_url(path)})"


def headline(text: str) -> None:
    """Print the notebook's headline figure; `make course` collects these lines into its table.

    Introduced in 01_peft_taxonomy.
    """
    print(f"Headline: {text}")


def repo_path(*parts: str):
    """A path inside the repository (data/, adapters/, images/), wherever the notebook runs.

    Introduced in 01_peft_taxonomy.
    """
    from pathlib import Path

    for parent in Path(__file__).resolve().parents:
        if (parent / "pyproject.toml").is_file() and (parent / "data").is_dir():
            return parent.joinpath(*parts)
    raise FileNotFoundError(
        "The course repository was not found next to the peft_course package: install it with "
        "`pip install -e .` from a clone (or run the notebook's setup cell on Colab)."
    )
