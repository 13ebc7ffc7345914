"""Draw the figure of notebook 04_lora_sft into images/.

    python scripts/figures_04.py     # writes images/04_prompt_masking.png

The figure shows a real padded batch of two extract examples, built with the course tokenizer and
`peft_course.data` (chat template, labels -100 on the prompt, right padding by the collator).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402

from peft_course.data import (  # noqa: E402
    IGNORE_INDEX,
    CompletionCollator,
    load_task,
    tokenize_example,
)
from peft_course.models import load_tokenizer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
COLORS = {"prompt": "#c8c8c8", "answer": "#4c72b0", "pad": "#ffffff"}


def main() -> Path:
    tokenizer = load_tokenizer()
    rows = load_task("extract", "train").select(range(3))
    features = [tokenize_example(tokenizer, r["prompt"], r["completion"]) for r in rows]
    batch = CompletionCollator(tokenizer.pad_token_id)(features)
    n_rows, width = batch["input_ids"].shape

    fig, ax = plt.subplots(figsize=(11, 2.9))
    for i in range(n_rows):
        for t in range(width):
            label = int(batch["labels"][i, t])
            real = int(batch["attention_mask"][i, t]) == 1
            kind = "pad" if not real else ("prompt" if label == IGNORE_INDEX else "answer")
            ax.add_patch(Rectangle((t, n_rows - 1 - i), 0.92, 0.8, facecolor=COLORS[kind],
                                   edgecolor="#555555", linewidth=0.4,
                                   hatch="//" if kind == "pad" else None))
        n_prompt = int((batch["labels"][i] == IGNORE_INDEX).sum() - (batch["attention_mask"][i] == 0).sum())
        n_answer = int((batch["labels"][i] != IGNORE_INDEX).sum())
        ax.text(-1, n_rows - 1 - i + 0.4, f"example {i}\n{n_prompt} prompt + {n_answer} answer",
                ha="right", va="center", fontsize=9)
    ax.set_xlim(-18, width + 0.5)
    ax.set_ylim(-0.9, n_rows + 0.2)
    ax.axis("off")
    ax.set_title("One padded batch: the loss sees only the answer tokens (blue); prompt and "
                 "padding carry label -100", fontsize=11)
    ax.legend(
        handles=[Patch(facecolor=COLORS["prompt"], edgecolor="#555", label="prompt (chat template + "
                       "request): label -100"),
                 Patch(facecolor=COLORS["answer"], edgecolor="#555", label="answer + <|im_end|>: "
                       "label = token id"),
                 Patch(facecolor="white", edgecolor="#555", hatch="//", label="padding: "
                       "attention 0, label -100")],
        loc="lower center", ncol=3, fontsize=8.5, frameon=False, bbox_to_anchor=(0.5, -0.12),
    )
    out = ROOT / "images" / "04_prompt_masking.png"
    out.parent.mkdir(exist_ok=True)
    fig.savefig(out, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return out


if __name__ == "__main__":
    print(main())
