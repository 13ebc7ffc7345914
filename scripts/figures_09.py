"""Draw the figure of notebook 09_qlora_methods into images/.

    python scripts/figures_09.py     # writes images/09_nf4.png

Left: the weights of the course model's layer-0 q_proj, each divided by the largest |w| of its
block of 64 (the normalisation NF4 applies), as a histogram, with the 16 NF4 levels of
bitsandbytes and the 16 evenly spaced levels of a plain 4-bit grid. Right: the mean squared
round-trip error of the same weights with either grid (same blocks, same scales).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from bitsandbytes.functional import get_4bit_type  # noqa: E402

from peft_course.models import load_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BLOCK = 64


def roundtrip(blocks: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Each value (already divided by its block's absmax) replaced by its nearest level."""
    return levels[(blocks[..., None] - levels).abs().argmin(-1)]


def main() -> Path:
    model = load_model(device_map="cpu")
    w = model.model.layers[0].self_attn.q_proj.weight.detach().float().reshape(-1, BLOCK)
    scale = w.abs().amax(1, keepdim=True)
    normed = w / scale
    nf4 = get_4bit_type("nf4", device="cpu").float()
    uniform = torch.linspace(-1, 1, 16)
    errors = {
        "NF4": float(((roundtrip(normed, nf4) - normed) * scale).pow(2).mean()),
        "uniform 4-bit": float(((roundtrip(normed, uniform) - normed) * scale).pow(2).mean()),
    }
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [2.2, 1]})
    ax0.hist(normed.flatten().numpy(), bins=120, color="0.75", density=True, label="w / absmax")
    for i, v in enumerate(nf4.tolist()):
        ax0.axvline(v, color="tab:blue", lw=1, label="NF4 levels" if i == 0 else None)
    for i, v in enumerate(uniform.tolist()):
        ax0.plot(
            [v, v], [0, 0.25], color="tab:red", lw=2, label="uniform levels" if i == 0 else None
        )
    ax0.set_xlabel("weight / absmax of its block of 64 (layer-0 q_proj)")
    ax0.set_ylabel("density")
    ax0.set_title("NF4 puts its 16 levels where the weights are")
    ax0.legend(loc="upper left", fontsize=8)
    ax1.bar(list(errors), [e * 1e4 for e in errors.values()], color=["tab:blue", "tab:red"])
    ax1.set_ylabel("mean squared error (x 1e-4)")
    ax1.set_title("round-trip error, same blocks")
    fig.tight_layout()
    out = ROOT / "images" / "09_nf4.png"
    fig.savefig(out, dpi=110)
    print(f"wrote {out}: mean squared error {errors}")
    return out


if __name__ == "__main__":
    main()
