"""Write the README's notebook table (badges and links built from peft_course.course.REPO).

    python scripts/readme_table.py          # rewrite the table between the markers in README.md
    python scripts/readme_table.py --check  # exit 1 if README.md is out of date
Times come from `python -m peft_course.grading course --record` (or `--record-from` a `benchmarks/run.py --course`
results file), which writes scripts/notebook_times.json.
"""

import json
import re
import sys
from pathlib import Path

from peft_course.course import NOTEBOOKS, colab_badge

ROOT = Path(__file__).resolve().parents[1]
TITLES = {
    "01_peft_taxonomy": ("PEFT taxonomy", "count what each PEFT method trains; memory arithmetic"),
    "02_lora_from_scratch": ("LoRA from scratch", "write LoRA with PEFT's names; match PEFT's logits"),
    "03_loading_adapters": ("Loading and switching adapters", "load, switch, mix and hot-swap adapters"),
    "04_lora_sft": ("LoRA + SFT", "fine-tune with masking and the Trainer; measure the gain"),
    "05_olora": ("OLoRA", "orthonormal init by hand; honest comparison with default and PiSSA"),
    "06_trl_peft": ("TRL + PEFT", "SFTTrainer and DPO with an adapter as its own reference"),
    "07_merging": ("Merging", "merge_and_unload, 8-bit merging, combining adapters"),
    "08_lora_hyperparameters": ("LoRA hyperparameters", "measured sweeps, presets, troubleshooting"),
    "09_qlora_methods": ("QLoRA and PEFT methods", "NF4 and LoftQ by hand; QLoRA; choose a method by measurement"),
}


START, END = "<!-- notebooks:start -->", "<!-- notebooks:end -->"


def table() -> str:
    times_file = ROOT / "scripts" / "notebook_times.json"
    times = json.loads(times_file.read_text()) if times_file.is_file() else {}
    lines = ["| # | Notebook | You will | CPU time | GPU time | Student | Solution | Colab |",
             "|---|---|---|---|---|---|---|---|"]
    for name in NOTEBOOKS:
        title, goal = TITLES[name]
        student = f"notebooks/{name}/{name}.ipynb"
        solution = f"solutions/{name}/{name}.ipynb"
        cpu = times.get(name, {}).get("cpu", "not measured")
        gpu = times.get(name, {}).get("gpu", "not measured")
        lines.append(f"| {name[:2]} | {title} | {goal} | {cpu} | {gpu} | [student]({student}) | "
                     f"[solution]({solution}) | {colab_badge(student)} |")
    return "\n".join(lines)


def main() -> int:
    readme = ROOT / "README.md"
    text = readme.read_text()
    new = re.sub(re.escape(START) + ".*?" + re.escape(END),
                 lambda _: f"{START}\n{table()}\n{END}", text, flags=re.DOTALL)
    if "--check" in sys.argv:
        if new != text:
            print("README.md's notebook table is stale: run python scripts/readme_table.py")
            return 1
        return 0
    readme.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
