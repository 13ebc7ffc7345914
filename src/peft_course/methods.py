"""The PEFT methods notebook 09 and `make bench-methods` compare: one table, one builder each.

A builder takes the loaded base model (fp32, or the 4-bit base for QLoRA) and its folder, and
returns the model to train and an optimizer factory (``None``: AdamW over the trainable
parameters). Introduced in 09_qlora_methods.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .data import TASK_INSTRUCTIONS

ATTENTION = ["q_proj", "k_proj", "v_proj", "o_proj"]
R, LORA_ALPHA, LORA_DROPOUT = 8, 16, 0.05  # the course's defaults (peft_course.train.TrainConfig)
LORAPLUS_LR_RATIO = 16  # lora_B learns 16x faster than lora_A
IA3_TARGETS = ["k_proj", "v_proj", "down_proj"]
NUM_VIRTUAL_TOKENS = 16
PROMPT_INIT_TEXT = TASK_INSTRUCTIONS["extract"].split("\n")[0]  # the task's instruction


@dataclass(frozen=True)
class Method:
    """One row of the comparison: its name, label, learning rate and builder.

    Introduced in 09_qlora_methods."""

    name: str
    label: str
    learning_rate: float  # peak AdamW learning rate (warm-up, then linear decay)
    build: Callable  # (model, model_path) -> (model to train, optimizer factory or None)
    settings: dict = field(default_factory=dict)  # what the results JSON records
    quant: str | None = None  # "4bit": the base is loaded in nf4 (QLoRA)
    converted: bool = False  # PiSSA: saved converted to a plain LoRA (rank 2r) for the base


def _lora_config(**overrides):
    from peft import LoraConfig

    kwargs = dict(r=R, lora_alpha=LORA_ALPHA, lora_dropout=LORA_DROPOUT, target_modules=ATTENTION)
    return LoraConfig(**(kwargs | overrides), task_type="CAUSAL_LM")


def _peft(config_fn):
    """A builder that wraps the base with ``get_peft_model(model, config_fn(model_path))``."""

    def build(model, model_path):
        from peft import get_peft_model

        return get_peft_model(model, config_fn(model_path)), None

    return build


def _full(model, model_path):
    model.requires_grad_(True)
    return model, None


def _loraplus(model, model_path):
    import torch
    from peft import get_peft_model
    from peft.optimizers import create_loraplus_optimizer

    model = get_peft_model(model, _lora_config())

    def optimizer(model, lr):
        return create_loraplus_optimizer(
            model, torch.optim.AdamW, lr=lr, loraplus_lr_ratio=LORAPLUS_LR_RATIO, weight_decay=0.0
        )

    return model, optimizer


def _qlora(model, model_path):
    from peft import get_peft_model, prepare_model_for_kbit_training

    # no activation checkpointing, so memory and time differ from `lora` only by the 4-bit base
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    return get_peft_model(model, _lora_config()), None


def _ia3(model_path):
    from peft import IA3Config

    return IA3Config(
        target_modules=IA3_TARGETS,
        feedforward_modules=["down_proj"],  # scales down_proj's input, not its output
        task_type="CAUSAL_LM",
    )


def _prompt_tuning(model_path):
    from peft import PromptTuningConfig, PromptTuningInit

    return PromptTuningConfig(
        num_virtual_tokens=NUM_VIRTUAL_TOKENS,
        prompt_tuning_init=PromptTuningInit.TEXT,
        prompt_tuning_init_text=PROMPT_INIT_TEXT,  # token embeddings of the task's instruction
        tokenizer_name_or_path=str(model_path),
        task_type="CAUSAL_LM",
    )


def _ln_tuning(model_path):
    from peft import LNTuningConfig

    return LNTuningConfig(task_type="CAUSAL_LM")  # every RMSNorm of a Llama (PEFT's default)


LORA = {"r": R, "lora_alpha": LORA_ALPHA, "lora_dropout": LORA_DROPOUT, "target_modules": ATTENTION}
METHODS = {
    m.name: m
    for m in [
        Method("full", "full fine-tuning", 5e-5, _full, {"trains": "every weight"}),
        Method("lora", "LoRA", 3e-3, _peft(lambda _: _lora_config()), LORA),
        Method(
            "rslora", "rsLoRA", 3e-3, _peft(lambda _: _lora_config(use_rslora=True)),
            {**LORA, "use_rslora": True},
        ),
        Method(
            "dora", "DoRA", 3e-3, _peft(lambda _: _lora_config(use_dora=True)),
            {**LORA, "use_dora": True},
        ),
        # LoRA+ docs: a base rate about 4x below plain LoRA's, lora_B at ratio x that
        Method(
            "loraplus", "LoRA+", 7.5e-4, _loraplus,
            {**LORA, "loraplus_lr_ratio": LORAPLUS_LR_RATIO,
             "optimizer": "peft.optimizers.create_loraplus_optimizer"},
        ),
        # no dropout: PiSSA's adapter holds the principal part of W, so dropping its input
        # perturbs the model (0.64 vs 0.51 loss at init on the course model), not just the update
        Method(
            "pissa", "PiSSA", 3e-3,
            _peft(lambda _: _lora_config(init_lora_weights="pissa", lora_dropout=0.0)),
            {**LORA, "lora_dropout": 0.0, "init_lora_weights": "pissa"}, converted=True,
        ),
        Method(
            "qlora", "QLoRA (4-bit nf4 base)", 3e-3, _qlora,
            {**LORA, "quantization": "nf4, double quant", "activation_checkpointing": False},
            quant="4bit",
        ),
        Method(
            "ia3", "IA3", 3e-2, _peft(_ia3),
            {"target_modules": IA3_TARGETS, "feedforward_modules": ["down_proj"]},
        ),
        Method(
            "prompt_tuning", "prompt tuning", 3e-2, _peft(_prompt_tuning),
            {"num_virtual_tokens": NUM_VIRTUAL_TOKENS, "prompt_tuning_init": "TEXT",
             "prompt_tuning_init_text": PROMPT_INIT_TEXT},
        ),
        Method(
            "ln_tuning", "LN tuning", 1e-2, _peft(_ln_tuning),
            {"target_modules": "PEFT's default: every RMSNorm"},
        ),
    ]
}  # fmt: skip


def bnb_config(device):
    """nf4 with double quantisation; compute in bf16 on GPUs that have it, fp16 on older GPUs,
    fp32 on CPU (``peft_course.device.get_dtype``). Introduced in 09_qlora_methods."""
    from transformers import BitsAndBytesConfig

    from .device import get_dtype

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=get_dtype(device),
    )


def load_base(method: Method, model_name: str | None = None):
    """(base model, its local folder or hub id) for ``method``, on the course device.

    fp32 through ``peft_course.models.load_model``. The 4-bit base is loaded with ``bnb_config``
    (``load_model(load_in_4bit=True)`` has no double quantisation). On CPU the 4-bit layers are
    told not to repack their weights for inference: a forward pass in eval mode (the forgetting
    probe) would otherwise leave every LoRA gradient None afterwards (the course's CPU trap).
    Raises ``RuntimeError`` where bitsandbytes cannot run. Introduced in 09_qlora_methods.
    """
    from .device import get_device
    from .models import load_model, quantization_unavailable, resolve_model

    path, _ = resolve_model(model_name)
    if method.quant is None:
        return load_model(model_name), path
    device = get_device()
    reason = quantization_unavailable(device)
    if reason:
        raise RuntimeError(f"{method.name} needs 4-bit weights: {reason}")
    import bitsandbytes as bnb
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(
        path,
        dtype=torch.float32,
        quantization_config=bnb_config(device),
        device_map={"": (device.index or 0) if device.type == "cuda" else "cpu"},
        use_safetensors=True,
    )
    model.generation_config.pad_token_id = (
        model.generation_config.pad_token_id or model.generation_config.eos_token_id
    )
    if device.type == "cpu":
        for module in model.modules():
            if isinstance(module, bnb.nn.Linear4bit):
                module.support_avx512bf16_for_cpu = False
    return model, path


def build(method: Method, model, model_path):
    """(model to train, optimizer) for ``method``; the optimizer is AdamW over the trainable
    parameters unless the method brings its own (LoRA+). Introduced in 09_qlora_methods."""
    import torch

    model, make_optimizer = method.build(model, model_path)
    if make_optimizer is not None:
        return model, make_optimizer(model, method.learning_rate)
    params = [p for p in model.parameters() if p.requires_grad]
    return model, torch.optim.AdamW(params, lr=method.learning_rate, weight_decay=0.0)


def parameter_counts(model) -> tuple[int, int]:
    """(trainable, total) parameters; PEFT counts a packed 4-bit weight as its full size.

    Introduced in 09_qlora_methods."""
    if hasattr(model, "get_nb_trainable_parameters"):
        return tuple(int(n) for n in model.get_nb_trainable_parameters())
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)
