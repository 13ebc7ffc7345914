"""Draw the figure of notebook 07_merging into images/.

    python scripts/figures_07.py     # writes images/07_merging.png

Left: merging folds the low-rank product into the base weight (same shape, no extra matmul).
Right: two toy task vectors combined by PEFT's own merge functions (peft.utils.merge_utils):
task arithmetic (a weighted sum), TIES (trim to the largest entries, elect a sign per entry,
average only the agreeing ones) and DARE (drop entries at random, rescale the rest).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from peft.utils.merge_utils import dare_linear, task_arithmetic, ties  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def matrix(ax, x, y, w, h, label, color):
    ax.add_patch(Rectangle((x, y), w, h, facecolor=color, edgecolor="#333333", lw=1.0))
    ax.text(x + w / 2, y + h / 2, label, ha="center", va="center", fontsize=12)


def draw_merge(ax) -> None:
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 5)
    ax.axis("off")
    matrix(ax, 0.2, 1.2, 2.4, 2.4, "$W_0$\n(d_out, d_in)", "#d9d9d9")
    ax.text(2.9, 2.4, "+", fontsize=20, ha="center", va="center")
    ax.text(3.45, 2.4, "$\\frac{\\alpha}{r}$", fontsize=18, ha="center", va="center")
    matrix(ax, 3.9, 1.2, 0.45, 2.4, "$B$", "#4c72b0")
    matrix(ax, 4.5, 3.15, 2.4, 0.45, "$A$", "#8fb0de")
    ax.text(5.7, 2.55, "(d_out, r) @ (r, d_in)", fontsize=9, ha="center", color="#333333")
    ax.text(7.25, 2.4, "=", fontsize=20, ha="center", va="center")
    matrix(ax, 7.55, 1.2, 2.4, 2.4, "$W'$\n(d_out, d_in)", "#c9d8ef")
    ax.text(5.0, 0.55, "merge_and_unload(): one weight per layer again, no extra matmul;\n"
            "the adapter can no longer be switched off", ha="center", fontsize=9.5)
    ax.set_title("Merging: fold $\\Delta W$ into the base weight", fontsize=12, weight="bold")


def draw_combinations(ax) -> None:
    torch.manual_seed(3)
    n = 12
    task_a = torch.randn(n)
    task_b = torch.randn(n)
    task_b[:4] = -task_a[:4] * 0.8  # a few entries where the tasks disagree in sign
    weights = torch.tensor([1.0, 1.0])
    rows = [
        ("task A", task_a),
        ("task B", task_b),
        ("linear (sum)", task_arithmetic([task_a, task_b], weights)),
        ("TIES, density 0.5", ties([task_a, task_b], weights, density=0.5)),
        ("DARE, density 0.5", dare_linear([task_a, task_b], weights, density=0.5)),
    ]
    grid = torch.stack([r[1] for r in rows]).numpy()
    lim = float(abs(grid).max())
    im = ax.imshow(grid, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_yticks(range(len(rows)), [r[0] for r in rows])
    ax.set_xticks(range(n), [str(i) for i in range(n)], fontsize=8)
    ax.set_xlabel("entry of a weight update $\\Delta W$ (flattened); dashed: the tasks disagree in sign")
    ax.axhline(1.5, color="black", lw=1.5)
    for i in range(len(rows)):
        for j in range(n):
            if grid[i, j] == 0:
                ax.text(j, i, "0", ha="center", va="center", fontsize=7, color="#666666")
    ax.axvspan(-0.5, 3.5, ymin=0, ymax=1, facecolor="none", edgecolor="#c44e52", lw=2, ls="--")
    plt.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
    ax.set_title("Combining two task updates (peft.utils.merge_utils)", fontsize=12, weight="bold")


def main() -> None:
    out = ROOT / "images"
    out.mkdir(exist_ok=True)
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 4.6), gridspec_kw={"width_ratios": [1, 1.25]})
    draw_merge(left)
    draw_combinations(right)
    fig.tight_layout()
    path = out / "07_merging.png"
    fig.savefig(path, dpi=130)
    plt.close(fig)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
