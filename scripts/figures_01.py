"""Draw the figures of notebook 01_peft_taxonomy into images/.

    python scripts/figures_01.py     # writes images/01_peft_families.png

The taxonomy follows Lialin et al. 2023 ("Scaling Down to Scale Up", arXiv 2303.15647):
additive, reparameterisation-based and selective methods.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

FAMILIES = [
    (
        "Additive",
        "add new weights;\nthe base stays frozen",
        "#4c72b0",
        [
            ("Soft prompts", "prompt tuning, prefix tuning,\np-tuning: learned vectors\nin front of the input"),
            ("Adapters", "bottleneck MLPs between layers;\nIA3: learned scaling vectors\n$h \\odot l$"),
        ],
    ),
    (
        "Reparameterisation",
        "learn a compact update\nof existing weights",
        "#dd8452",
        [
            ("Low rank", "LoRA: $W_0 + \\frac{\\alpha}{r}BA$\nAdaLoRA, DoRA, VeRA"),
            ("Other structure", "LoHa (Hadamard), LoKr\n(Kronecker), OFT / BOFT\n(orthogonal rotation $RW_0$)"),
        ],
    ),
    (
        "Selective",
        "unfreeze a chosen subset\nof existing weights",
        "#55a868",
        [
            ("By type", "BitFit: biases only\nLN tuning: norm weights only"),
            ("By position", "the last block(s) only,\nthe embeddings only, ..."),
        ],
    ),
]


def box(ax, x, y, w, h, text, color, size=10, weight="normal", alpha=1.0, text_color="black"):
    patch = FancyBboxPatch(
        (x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.02",
        facecolor=color, edgecolor="#333333", alpha=alpha, linewidth=1.0,
    )
    ax.add_patch(patch)
    ax.text(x, y, text, ha="center", va="center", fontsize=size, weight=weight, color=text_color)


def families_figure(path: Path) -> None:
    fig, ax = plt.subplots(figsize=(12, 6.2))
    ax.set_xlim(0, 12)
    ax.set_ylim(0, 6.4)
    ax.axis("off")
    box(ax, 6, 5.8, 5.2, 0.7, "Parameter-efficient fine-tuning\nfreeze the pretrained model, train a little",
        "#eeeeee", size=11, weight="bold")
    for i, (name, idea, color, members) in enumerate(FAMILIES):
        x = 2 + 4 * i
        ax.annotate("", xy=(x, 4.95), xytext=(6, 5.45),
                    arrowprops={"arrowstyle": "->", "color": "#555555"})
        box(ax, x, 4.45, 3.5, 0.95, f"{name}\n{idea}", color, size=10.5, weight="bold",
            text_color="white")
        for j, (title, body) in enumerate(members):
            y = 2.95 - 1.75 * j
            box(ax, x, y, 3.5, 1.45, "", color, alpha=0.18)
            ax.text(x, y + 0.48, title, ha="center", va="center", fontsize=10.5, weight="bold")
            ax.text(x, y - 0.15, body, ha="center", va="center", fontsize=9.5)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)


def main() -> None:
    out = ROOT / "images" / "01_peft_families.png"
    families_figure(out)
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
