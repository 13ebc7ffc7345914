"""Draw the figure of notebook 08_lora_hyperparameters into images/.

    python scripts/figures_08.py     # writes images/08_lora_knobs.png

Left: trainable LoRA parameters against the rank r for the three target-module sets of
`peft_course.train.TARGET_SETS`, counted from the course model's layer shapes (its config) with
r * (d_in + d_out) per wrapped layer. Right: the multiplier lora_alpha / r that scales B A x, for
three ways of choosing lora_alpha as r grows.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from transformers import AutoConfig  # noqa: E402

from peft_course.models import prepare_default_model  # noqa: E402
from peft_course.train import TARGET_SETS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RANKS = [1, 2, 4, 8, 16, 32, 64]


def module_shapes(config) -> dict[str, tuple[int, int]]:
    """(d_in, d_out) of every linear layer in one Llama-style decoder layer."""
    d, mlp = config.hidden_size, config.intermediate_size
    head_dim = getattr(config, "head_dim", None) or d // config.num_attention_heads
    kv = config.num_key_value_heads * head_dim  # grouped-query attention: k, v are narrower
    return {
        "q_proj": (d, config.num_attention_heads * head_dim), "k_proj": (d, kv),
        "v_proj": (d, kv), "o_proj": (config.num_attention_heads * head_dim, d),
        "gate_proj": (d, mlp), "up_proj": (d, mlp), "down_proj": (mlp, d),
    }


def main() -> Path:
    config = AutoConfig.from_pretrained(prepare_default_model())
    shapes = module_shapes(config)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    for (name, modules), marker in zip(TARGET_SETS.items(), "os^", strict=True):
        per_rank = config.num_hidden_layers * sum(sum(shapes[m]) for m in modules)
        counts = [r * per_rank for r in RANKS]
        left.plot(RANKS, counts, marker=marker, label=f"{name}: {', '.join(m[:-5] for m in modules)}")
        left.annotate(f"{counts[3]:,}", (8, counts[3]), textcoords="offset points", xytext=(6, -10),
                      fontsize=8)
    left.set_xscale("log", base=2)
    left.set_yscale("log")
    left.set_xticks(RANKS, [str(r) for r in RANKS])
    left.set_xlabel("rank r")
    left.set_ylabel("trainable parameters")
    left.set_title(f"r x sum(d_in + d_out) x {config.num_hidden_layers} layers", fontsize=10)
    left.legend(fontsize=8, title="target_modules", title_fontsize=8)
    left.grid(alpha=0.3)

    rules = {
        "lora_alpha = 16 (fixed)": [16 / r for r in RANKS],
        "lora_alpha = 2r (fixed ratio)": [2.0 for _ in RANKS],
        "rsLoRA: lora_alpha / sqrt(r), alpha = 16": [16 / r**0.5 for r in RANKS],
    }
    for (label, values), marker in zip(rules.items(), "os^", strict=True):
        right.plot(RANKS, values, marker=marker, label=label)
    right.set_xscale("log", base=2)
    right.set_yscale("log", base=2)
    right.set_xticks(RANKS, [str(r) for r in RANKS])
    right.set_xlabel("rank r")
    right.set_ylabel("scaling multiplying B A x")
    right.set_title("h = W0 x + scaling * B A x", fontsize=10)
    right.legend(fontsize=8)
    right.grid(alpha=0.3)
    fig.suptitle("The two LoRA knobs: how many parameters (r, target_modules) and how loud "
                 "the update is (lora_alpha / r)", fontsize=11)
    fig.tight_layout()
    out = ROOT / "images" / "08_lora_knobs.png"
    out.parent.mkdir(exist_ok=True)
    fig.savefig(out, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return out


if __name__ == "__main__":
    print(main())
