"""Draw the figure of notebook 05_olora into images/.

    python scripts/figures_05.py     # writes images/05_olora_init.png

Left: |R| from the QR decomposition of the course model's layer-0 q_proj weight (upper
triangular). Right: how much of each weight (Frobenius norm) the rank-r starting point holds,
for OLoRA (first r columns of Q times first r rows of R) and PiSSA (the top r singular directions,
the best possible rank-r part), averaged over every q_proj and v_proj layer.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from peft_course.models import load_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RANKS = [1, 2, 4, 8, 16, 32, 64, 128]


def captured(weight: torch.Tensor) -> tuple[list[float], list[float]]:
    """Fraction of ||W||_F held by the rank-r OLoRA part and by the best rank-r part, per r."""
    q, rr = torch.linalg.qr(weight)  # weight: (d_out, d_in)
    s = torch.linalg.svdvals(weight)
    total = weight.norm()
    olora = [float((q[:, :r] @ rr[:r]).norm() / total) for r in RANKS]
    best = [float(s[:r].norm() / total) for r in RANKS]
    return olora, best


def main() -> Path:
    model = load_model(device_map="cpu")
    layers = model.model.layers
    w0 = layers[0].self_attn.q_proj.weight.detach().float()
    _, r0 = torch.linalg.qr(w0)
    curves = {"q_proj": ([], []), "v_proj": ([], [])}
    for layer in layers:
        for name in curves:
            o, b = captured(getattr(layer.self_attn, name).weight.detach().float())
            curves[name][0].append(o)
            curves[name][1].append(b)

    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4.2))
    n = 48
    im = ax0.imshow(r0[:n, :n].abs().numpy(), cmap="viridis")
    ax0.set_title(f"|R| of layer-0 q_proj, top-left {n}x{n}\n(W = QR: R is upper triangular)",
                  fontsize=10)
    ax0.set_xlabel("column (input feature)")
    ax0.set_ylabel("row of R (= row of OLoRA's lora_A)")
    fig.colorbar(im, ax=ax0, fraction=0.046)
    styles = {"q_proj": "-", "v_proj": "--"}
    for name, (o, b) in curves.items():
        ax1.plot(RANKS, np.mean(o, axis=0), styles[name], marker="o", color="#dd8452",
                 label=f"OLoRA  $Q_r R_r$, {name}")
        ax1.plot(RANKS, np.mean(b, axis=0), styles[name], marker="s", color="#55a868",
                 label=f"PiSSA (top-r SVD), {name}")
    ax1.axvline(8, color="#999999", linewidth=0.8)
    ax1.text(8.4, 0.02, "r = 8", fontsize=8, color="#555555")
    ax1.set_xscale("log", base=2)
    ax1.set_xticks(RANKS, [str(r) for r in RANKS])
    ax1.set_ylim(0, 1)
    ax1.set_xlabel("rank r")
    ax1.set_ylabel(r"$\|$rank-r part$\|_F \,/\, \|W\|_F$ (mean over 30 layers)")
    ax1.set_title("How much of W the adapter starts from", fontsize=10)
    ax1.legend(fontsize=8)
    fig.tight_layout()
    out = ROOT / "images" / "05_olora_init.png"
    out.parent.mkdir(exist_ok=True)
    fig.savefig(out, dpi=130)
    plt.close(fig)
    return out


if __name__ == "__main__":
    print(main())
