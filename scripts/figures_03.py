"""Draw the figure of notebook 03_loading_adapters into images/.

    python scripts/figures_03.py     # writes images/03_adapter_slots.png

One frozen base layer W0 with several named LoRA adapters plugged in beside it: set_adapter picks
one for the whole batch, disable_adapter() bypasses them all, and adapter_names= routes each row
of a mixed batch to its own adapter.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ADAPTERS = [("extract", "#4c72b0"), ("sentiment", "#dd8452"), ("(any other)", "#bbbbbb")]


def box(ax, x, y, w, h, text, color, size=10, weight="normal", text_color="black", ls="-"):
    ax.add_patch(FancyBboxPatch(
        (x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.03",
        facecolor=color, edgecolor="#333333", linewidth=1.0, linestyle=ls,
    ))
    ax.text(x, y, text, ha="center", va="center", fontsize=size, weight=weight, color=text_color)


def arrow(ax, start, end, color="#333333", style="-|>", lw=1.2):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=12, color=color, lw=lw))


def draw(path: Path) -> None:
    fig, ax = plt.subplots(figsize=(12.5, 5.2))
    ax.set_xlim(0, 12.5)
    ax.set_ylim(0, 5.2)
    ax.axis("off")

    # input rows of a (mixed) batch
    rows = [("Extract ... Request: ...", "extract"), ("Classify ... Review: ...", "sentiment"),
            ("What is the capital ...", "__base__")]
    for i, (text, route) in enumerate(rows):
        y = 3.9 - i * 0.75
        box(ax, 1.45, y, 2.5, 0.5, text, "#f2f2f2", size=8.5)
        ax.text(1.45, y - 0.36, f"adapter_names: '{route}'", ha="center", fontsize=7.5, color="#555555")
    ax.text(1.45, 4.75, "batch x", ha="center", fontsize=11, weight="bold")

    # frozen base layer
    box(ax, 5.0, 3.6, 2.2, 1.3, "$W_0$ (frozen)\nbase_layer\nshared by every row", "#d9d9d9", size=10)
    arrow(ax, (2.75, 3.2), (3.85, 3.5))
    # adapter slots
    for i, (name, color) in enumerate(ADAPTERS):
        x = 3.9 + i * 1.1
        ls = "--" if name.startswith("(") else "-"
        box(ax, x, 1.45, 0.95, 0.95, f"{name}\n$B A$\nr = 8", color, size=8,
            text_color="white" if not name.startswith("(") else "black", ls=ls)
    ax.text(5.0, 0.55, "lora_A / lora_B: one small pair per adapter name (~1.8 MB each)",
            ha="center", fontsize=9, color="#333333")
    arrow(ax, (2.75, 2.4), (3.4, 1.7), color="#777777")

    # output sum
    box(ax, 8.1, 2.6, 1.9, 1.0, "$h = W_0 x + \\frac{\\alpha}{r} B_i A_i x$", "#ffffff", size=11)
    arrow(ax, (6.1, 3.5), (7.15, 2.85))
    arrow(ax, (6.65, 1.5), (7.15, 2.35))

    notes = [
        ("set_adapter('sentiment')", "one adapter for the whole batch"),
        ("with disable_adapter():", "skip every adapter: the base exactly"),
        ("generate(..., adapter_names=[...])", "one adapter per row (mixed batch)"),
        ("merge_and_unload() / unload()", "fold $B A$ into $W_0$ / drop it"),
    ]
    for i, (call, what) in enumerate(notes):
        y = 4.3 - i * 0.62
        ax.text(9.35, y, call, fontsize=8.5, family="monospace", weight="bold")
        ax.text(9.35, y - 0.22, what, fontsize=8, color="#444444")
    ax.set_title("One frozen base, many named adapters", fontsize=13, weight="bold", loc="left")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def main() -> None:
    out = ROOT / "images"
    out.mkdir(exist_ok=True)
    draw(out / "03_adapter_slots.png")
    print(f"wrote {out / '03_adapter_slots.png'}")


if __name__ == "__main__":
    main()
