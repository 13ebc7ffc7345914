"""Draw the figures of notebook 02_lora_from_scratch into images/.

    python scripts/figures_02.py     # writes images/02_lora_diagram.png, images/02_conv1d.png
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, Rectangle  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FROZEN, TRAIN, ZERO = "#9db4d6", "#f2a65a", "#fbe3c8"


def rect(ax, x, y, w, h, color, label, size=11, hatch=None):
    ax.add_patch(Rectangle((x, y), w, h, facecolor=color, edgecolor="#333333", hatch=hatch))
    ax.text(x + w / 2, y + h / 2, label, ha="center", va="center", fontsize=size)


def arrow(ax, start, end):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, color="#444444"))


def lora_diagram(path: Path) -> None:
    fig, ax = plt.subplots(figsize=(10, 5.2))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 5.6)
    ax.axis("off")
    # input x and output h
    rect(ax, 0.2, 2.2, 0.9, 1.2, "#eeeeee", "$x$\n$d_{in}$")
    rect(ax, 8.9, 2.2, 0.9, 1.2, "#eeeeee", "$h$\n$d_{out}$")
    # frozen path: W0 is (d_out, d_in)
    rect(ax, 2.3, 3.6, 2.6, 1.6, FROZEN, "$W_0$  (frozen)\n$d_{out} \\times d_{in}$\nbase_layer")
    arrow(ax, (1.1, 3.0), (2.3, 4.4))
    arrow(ax, (4.9, 4.4), (7.6, 3.2))
    # LoRA path: dropout -> A (r, d_in) -> B (d_out, r) -> * alpha / r
    rect(ax, 2.3, 0.55, 1.3, 1.7, TRAIN, "$A$\n$r \\times d_{in}$\nlora_A\nrandom", size=10)
    rect(ax, 4.3, 1.05, 1.8, 0.7, ZERO, "$B$  $d_{out} \\times r$\nlora_B, zeros", size=10)
    arrow(ax, (1.1, 2.6), (2.3, 1.4))
    arrow(ax, (3.6, 1.4), (4.3, 1.4))
    ax.text(6.55, 1.4, "$\\times \\frac{\\alpha}{r}$\nscaling", ha="center", va="center", fontsize=11)
    arrow(ax, (6.1, 1.4), (7.6, 2.6))
    ax.add_patch(plt.Circle((7.95, 2.8), 0.33, facecolor="white", edgecolor="#333333"))
    ax.text(7.95, 2.8, "+", ha="center", va="center", fontsize=18)
    arrow(ax, (8.28, 2.8), (8.9, 2.8))
    ax.text(1.6, 1.75, "lora_dropout", fontsize=9, rotation=-42, ha="center", va="center")
    ax.text(5.0, 0.15, "trainable: $r\\,(d_{in} + d_{out})$ instead of $d_{in} \\cdot d_{out}$",
            ha="center", fontsize=11)
    ax.set_title("$h = W_0 x + \\frac{\\alpha}{r} B A x$   (LoRA, Hu et al. 2021)", fontsize=13)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def conv1d_diagram(path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax in axes:
        ax.set_xlim(0, 6)
        ax.set_ylim(0, 4)
        ax.axis("off")
    ax = axes[0]
    rect(ax, 1.5, 0.9, 1.6, 2.4, FROZEN, "weight\n(d_out, d_in)\n(2304, 768)", size=10)
    ax.set_title("nn.Linear: $y = x W^T + b$", fontsize=12)
    ax.text(3.3, 2.1, "fan_in_fan_out=False\n$\\Delta W = s\\,BA$", fontsize=10, va="center")
    ax = axes[1]
    rect(ax, 0.8, 1.4, 2.6, 1.4, FROZEN, "weight\n(d_in, d_out)\n(768, 2304)", size=10)
    ax.set_title("GPT-2 Conv1D: $y = x W + b$", fontsize=12)
    ax.text(3.6, 2.1, "fan_in_fan_out=True\n$\\Delta W = s\\,(BA)^T$", fontsize=10, va="center")
    fig.suptitle("The same layer (GPT-2's c_attn, 768 -> 2304), two weight layouts", fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def main() -> None:
    out = ROOT / "images"
    out.mkdir(exist_ok=True)
    lora_diagram(out / "02_lora_diagram.png")
    conv1d_diagram(out / "02_conv1d.png")
    print("wrote images/02_lora_diagram.png, images/02_conv1d.png")


if __name__ == "__main__":
    main()
