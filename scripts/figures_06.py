"""Draw the figures of notebook 06_trl_peft into images/.

    python scripts/figures_06.py   # writes images/06_dpo_reference.png and images/06_dpo_loss.png

- 06_dpo_reference.png: where DPO's reference model comes from, as an explicit frozen copy of the
  base weights or as the same base weights with the LoRA adapter switched off (a schematic).
- 06_dpo_loss.png: the DPO loss -log sigmoid(beta * margin) and its gradient weight
  sigmoid(-beta * margin) against the log-ratio margin, for three values of beta (computed).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BASE, ADAPTER, OFF = "#4c72b0", "#dd8452", "#d9d9d9"


def _box(ax, x, y, w, h, text, color, fontsize=10, text_color="white"):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02", fc=color, ec="black", lw=0.8))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=fontsize, color=text_color)


def _arrow(ax, start, end):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, lw=1.0, color="black"))


def reference_figure() -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    for ax in axes:
        ax.set_xlim(0, 10)
        ax.set_ylim(0, 6)
        ax.axis("off")

    ax = axes[0]
    ax.set_title("Explicit reference: two copies of the base weights", fontsize=11)
    _box(ax, 0.4, 3.3, 3.6, 1.6, "policy\nbase weights $W_0$\n(frozen)", BASE)
    _box(ax, 4.2, 3.7, 1.6, 0.8, "LoRA\n$BA$", ADAPTER, fontsize=9)
    _box(ax, 0.4, 0.6, 3.6, 1.6, "reference\ncopy of $W_0$\n(frozen)", BASE)
    _arrow(ax, (6.0, 4.1), (7.2, 4.1))
    _arrow(ax, (4.1, 1.4), (7.2, 1.4))
    ax.text(7.3, 4.1, r"$\log \pi_\theta(y \mid x)$", va="center", fontsize=11)
    ax.text(7.3, 1.4, r"$\log \pi_{ref}(y \mid x)$", va="center", fontsize=11)
    ax.text(0.4, 2.6, "memory: 2 x base + adapter", fontsize=9, style="italic")

    ax = axes[1]
    ax.set_title("PEFT: one copy, the adapter switched off for the reference", fontsize=11)
    _box(ax, 0.4, 1.9, 3.6, 1.6, "base weights $W_0$\n(frozen, shared)", BASE)
    _box(ax, 4.2, 3.7, 1.6, 0.8, "adapter on\n$BA$", ADAPTER, fontsize=9)
    _box(ax, 4.2, 0.8, 2.0, 0.8, "adapter off\ndisable_adapter()", OFF, fontsize=8, text_color="black")
    _arrow(ax, (4.0, 3.1), (4.2, 3.9))
    _arrow(ax, (4.0, 2.3), (4.2, 1.4))
    _arrow(ax, (6.0, 4.1), (7.2, 4.1))
    _arrow(ax, (6.3, 1.2), (7.2, 1.2))
    ax.text(7.3, 4.1, r"$\log \pi_\theta(y \mid x)$", va="center", fontsize=11)
    ax.text(7.3, 1.2, r"$\log \pi_{ref}(y \mid x)$", va="center", fontsize=11)
    ax.text(0.4, 5.2, "memory: 1 x base + adapter", fontsize=9, style="italic")
    fig.tight_layout()
    out = ROOT / "images" / "06_dpo_reference.png"
    fig.savefig(out, dpi=130)
    plt.close(fig)
    return out


def loss_figure() -> Path:
    margin = np.linspace(-40, 40, 401)  # log-ratio margin (chosen minus rejected), in nats
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for beta, color in zip((0.05, 0.1, 0.5), ("C0", "C1", "C2"), strict=True):
        z = beta * margin
        loss = np.logaddexp(0.0, -z)  # -log sigmoid(z), stable
        weight = 1.0 / (1.0 + np.exp(z))  # sigmoid(-z): how hard the pair still pushes
        axes[0].plot(margin, loss, color=color, label=rf"$\beta$ = {beta}")
        axes[1].plot(margin, weight, color=color, label=rf"$\beta$ = {beta}")
    axes[0].set_ylabel(r"loss $-\log \sigma(\beta\,\Delta)$")
    axes[1].set_ylabel(r"gradient weight $\sigma(-\beta\,\Delta)$")
    for ax in axes:
        ax.axvline(0, color="grey", lw=0.8, ls=":")
        ax.set_xlabel(r"margin $\Delta$ = log-ratio(chosen) $-$ log-ratio(rejected)  [nats]")
        ax.legend(fontsize=9)
    axes[0].set_title("DPO loss: log 2 at the start (policy = reference)")
    axes[1].set_title("Pairs already ranked right stop pushing")
    fig.tight_layout()
    out = ROOT / "images" / "06_dpo_loss.png"
    fig.savefig(out, dpi=130)
    plt.close(fig)
    return out


def main() -> None:
    for path in (reference_figure(), loss_figure()):
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
