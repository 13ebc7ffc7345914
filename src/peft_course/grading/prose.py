"""The prose rule, enforced: every number in a solution notebook's markdown is vouched for.

A number in a markdown cell is either printed by a checked output of the same notebook (a cell
tagged `nbval-check-output`, whose committed output nbval compares with a fresh run on every CI
run), or it sits on the notebook's allow-list `configs/prose_numbers/NN.json` (`all.json` for
every notebook) with its reason. Readings of a
run (which setting won, by how much) are printed by code, so they are never in markdown.

What is not a number here, and why (each is a name or a pointer, not a claim about a run):
maths (`$...$`), code spans and blocks, link targets and images, HTML tags; heading and list
enumerators; "Exercise 2", "notebook 04", `04_lora_sft`; citations (arXiv ids, "et al., 2021");
digits inside a name (GPT-2, SmolLM2, bf16) and the quantisation formats "8-bit" and "4-bit".
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat

from .checks import assignments

CHECKED = "nbval-check-output"  # the nbval cell tag: compare this cell's output on every run
ALLOW_DIR = Path("configs", "prose_numbers")

_REMOVE = [  # (pattern, flags): text that holds no claim to check
    (r"```.*?```", re.S),
    (r"\$\$.*?\$\$", re.S),
    (r"\$[^$\n]+\$", 0),
    (r"`[^`\n]*`", 0),
    (r"<!--.*?-->", re.S),
    (r"!\[[^\]]*\]\([^)]*\)", 0),
    (r"\]\([^)]*\)", 0),
    (r"<[^>\n]+>", 0),
    (r"https?://\S+", 0),
    (r"^\s*#+\s*\d+(\.\d+)*\s*[.·:]?", re.M),  # "## 3. Title", "# 04 · Title"
    (r"^\s*\d+\.\s", re.M),  # ordered-list markers
    (r"\b(Exercises?|Sections?|Tier|Part)\s+\d+(\s*(and|or|,|-|–)\s*\d+)*", 0),
    (r"\b[Nn]otebooks?\s+\**\d\d\b(\s*(and|or|,|-|–)\s*\**\d\d\b)*", 0),
    (r"\b\d\d_[a-z][a-z0-9_]*", 0),  # folder names such as 04_lora_sft
    (r"arXiv:?\s*\d{4}\.\d{4,5}(v\d+)?", re.I),
    (r"et al\.?,?\s*\(?(19|20)\d\d[a-z]?", 0),
    (r"\((19|20)\d\d[a-z]?\)", 0),
    (r"\b[A-Za-z][A-Za-z0-9]*[-]?\d[\w.-]*", 0),  # names with digits: GPT-2, SmolLM2-135M, bf16
    (r"\b(4|8|16|32)-bit\b", 0),  # formats
]
NUMBER = re.compile(r"(?<![\w.])\d+(?:,\d{3})*(?:\.\d+)?(?:\s?[kMB](?![a-zA-Z]))?")


def _without_exempt(text: str) -> str:
    for pattern, flags in _REMOVE:
        text = re.sub(pattern, " ", text, flags=flags)
    return text


def _norm(token: str) -> str:
    return re.sub(r"[,\s]", "", token)


def prose_numbers(markdown: str) -> list[str]:
    """The numbers a markdown cell states, as written ("921,600", "0.016", "135M")."""
    return [m.group().strip() for m in NUMBER.finditer(_without_exempt(markdown))]


def output_text(cell) -> str:
    """The text a code cell's committed outputs show (streams and text/plain)."""
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif "data" in out:
            parts.append(out["data"].get("text/plain", ""))
    return "".join(parts)


def checked_numbers(nb) -> set[str]:
    """Every number printed by the notebook's checked cells (commas and spaces dropped)."""
    text = "\n".join(
        output_text(c)
        for c in nb.cells
        if c.cell_type == "code" and CHECKED in c.metadata.get("tags", [])
    )
    return {_norm(m.group()) for m in NUMBER.finditer(text)}


def allow_list(root: Path) -> dict[str, dict[str, str]]:
    """{"02" (a notebook's number) or "all": {number: reason}} from configs/prose_numbers/*.json,
    each file an object `{"number": "reason"}` (keys starting with "_" are comments)."""
    allowed: dict[str, dict[str, str]] = {}
    for path in sorted(Path(root, ALLOW_DIR).glob("*.json")):
        try:
            table = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from None
        table = {k: v for k, v in table.items() if not k.startswith("_")}
        for number, reason in table.items():
            if not isinstance(reason, str) or len(reason.split()) < 3:
                raise ValueError(
                    f"{path}: the allowed number {number!r} needs a reason of a few words"
                )
            allowed.setdefault(path.stem, {})[_norm(number)] = reason
    return allowed


def notebook_prose_problems(path: Path, allowed: dict[str, dict[str, str]]) -> list[str]:
    """The unvouched numbers of one solution notebook, one problem line each."""
    nb = nbformat.read(path, as_version=4)
    vouched = checked_numbers(nb)
    ok = allowed.get("all", {}) | allowed.get(path.stem[:2], {})
    problems = []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for token in prose_numbers(cell.source):
            if _norm(token) not in vouched and _norm(token) not in ok:
                problems.append(
                    f"{path.stem} cell '{cell.get('id')}': {token!r} is printed by "
                    "no checked output"
                )
    return problems


HOW_TO_FIX = (
    f"vouch for each number: print it from a cell tagged {CHECKED} (then `python -m "
    "peft_course.grading outputs NN_topic`), let code print the reading instead, or "
    f"allow-list it in {ALLOW_DIR}/NN.json with its reason"
)


def prose_problems(root: Path) -> list[str]:
    """The prose rule over every solution notebook of `root`."""
    allowed = allow_list(root)
    return [
        p
        for name in assignments(root)
        for p in notebook_prose_problems(Path(root, "solutions", name, f"{name}.ipynb"), allowed)
    ]


def prose_counts(root: Path) -> dict[str, tuple[int, int]]:
    """{notebook: (numbers in its prose, unvouched)}: what the CI line prints."""
    allowed, counts = allow_list(root), {}
    for name in assignments(root):
        path = Path(root, "solutions", name, f"{name}.ipynb")
        nb = nbformat.read(path, as_version=4)
        total = sum(len(prose_numbers(c.source)) for c in nb.cells if c.cell_type == "markdown")
        counts[name] = (total, len(notebook_prose_problems(path, allowed)))
    return counts
