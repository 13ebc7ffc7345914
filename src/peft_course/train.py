"""LoRA fine-tuning with the transformers Trainer on a PEFT model: one code path for the
notebooks, the adapters the course ships, and the `train-lora` CLI."""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass, field

from peft import LoraConfig, get_peft_model
from transformers import Trainer, TrainerCallback, TrainingArguments

from .data import CompletionCollator, tokenize_dataset
from .device import get_device, set_seed

# Named target-module sets for Llama-family models (SmolLM2, Llama, Mistral, Qwen).
TARGET_SETS = {
    "minimal": ["q_proj", "v_proj"],
    "attention": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "all": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
}


@dataclass
class TrainConfig:
    """Settings for one LoRA run (PEFT's names where PEFT has the concept).

    Introduced in 04_lora_sft.
    """

    r: int = 8  # rank of lora_A (r x d_in) and lora_B (d_out x r)
    lora_alpha: int = 16  # scaling = lora_alpha / r
    lora_dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: list(TARGET_SETS["attention"]))
    init_lora_weights: bool | str = True  # True (Kaiming A, zero B), "gaussian", "olora", "pissa"
    lr: float = 2e-3
    num_steps: int = 120  # optimizer steps (max_steps); None-like 0 means use num_epochs
    num_epochs: float = 1.0
    batch_size: int = 8
    gradient_accumulation_steps: int = 1
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    max_length: int = 256
    seed: int = 0
    logging_steps: int = 10
    eval_steps: int = 0  # 0: evaluate only at the end
    lr_scheduler_type: str = "linear"

    def lora_config(self) -> LoraConfig:
        """The PEFT ``LoraConfig`` these settings describe."""
        return LoraConfig(
            r=self.r,
            lora_alpha=self.lora_alpha,
            lora_dropout=self.lora_dropout,
            target_modules=list(self.target_modules),
            init_lora_weights=self.init_lora_weights,
            task_type="CAUSAL_LM",
        )


class HistoryCallback(TrainerCallback):
    """Collects ``(step, loss)`` and ``(step, eval_loss)`` pairs as the Trainer logs them."""

    def __init__(self):
        self.train: list[tuple[int, float]] = []
        self.eval: list[tuple[int, float]] = []

    def on_train_begin(self, args, state, control, **kwargs):
        # resumed from a checkpoint: the Trainer restored the earlier logs into the state
        if not self.train and not self.eval:
            for logs in state.log_history:
                self.on_log(args, state, control, logs=logs, step=logs.get("step"))

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        step = kwargs.get("step") or state.global_step
        if "loss" in logs:
            self.train.append((step, float(logs["loss"])))
        if "eval_loss" in logs:
            self.eval.append((step, float(logs["eval_loss"])))


@dataclass
class TrainResult:
    model: object  # the PeftModel, trained in place
    history: dict  # {"train": [(step, loss)], "eval": [(step, eval_loss)]}
    seconds: float
    trainable: int
    config: dict


def training_arguments(cfg: TrainConfig, output_dir: str, has_eval: bool, **overrides):
    """``TrainingArguments`` for a LoRA run on the current device (fp32 on CPU, bf16/fp16 on
    GPUs that support them). Introduced in 04_lora_sft."""
    device = get_device()
    bf16 = device.type == "cuda" and _bf16_ok()
    kwargs = dict(
        output_dir=output_dir,
        max_steps=cfg.num_steps if cfg.num_steps > 0 else -1,
        num_train_epochs=cfg.num_epochs,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size * 2,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.lr,
        lr_scheduler_type=cfg.lr_scheduler_type,
        warmup_steps=cfg.warmup_ratio,  # a float < 1 is a fraction of the total steps
        weight_decay=cfg.weight_decay,
        logging_steps=cfg.logging_steps,
        eval_strategy=("steps" if cfg.eval_steps else "no") if has_eval else "no",
        eval_steps=cfg.eval_steps or None,
        save_strategy="no",
        report_to="none",
        seed=cfg.seed,
        data_seed=cfg.seed,
        bf16=bf16,
        fp16=device.type == "cuda" and not bf16,
        use_cpu=device.type == "cpu",
        dataloader_num_workers=0,
        remove_unused_columns=False,
        disable_tqdm=False,
    )
    kwargs.update(overrides)
    return TrainingArguments(**kwargs)


def _bf16_ok() -> bool:
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def _tokenized(rows, tokenizer, max_length: int):
    if {"input_ids", "labels"} <= set(rows.column_names):
        return rows
    return tokenize_dataset(rows, tokenizer, max_length)


def train_lora(
    model,
    tokenizer,
    train_rows,
    eval_rows=None,
    cfg: TrainConfig | None = None,
    output_dir: str | None = None,
    callbacks: list | None = None,
    resume_from_checkpoint: str | bool | None = None,
    **argument_overrides,
) -> TrainResult:
    """Wrap ``model`` with LoRA (unless it is already a PeftModel) and fine-tune it on
    prompt/completion rows with the loss on the answer tokens only.

    Args:
        model: a causal LM (or a ``PeftModel``, trained as it is).
        train_rows / eval_rows: ``datasets.Dataset`` with ``prompt`` and ``completion``.
        cfg: run settings; ``TrainConfig()`` when None.
        output_dir: Trainer working folder (a temporary one when None); nothing is saved
            unless ``argument_overrides`` asks for checkpoints.
        resume_from_checkpoint: a checkpoint folder (or True: the newest in ``output_dir``) to
            continue from; its loss history is restored into the result.

    Rows that already hold ``input_ids`` and ``labels`` (e.g. from ``cli_data.tokenize_rows``)
    are used as they are.

    Introduced in 04_lora_sft.
    """
    from peft import PeftModel

    cfg = cfg or TrainConfig()
    set_seed(cfg.seed)
    if not isinstance(model, PeftModel):
        model = get_peft_model(model, cfg.lora_config())
    train_ds = _tokenized(train_rows, tokenizer, cfg.max_length)
    eval_ds = _tokenized(eval_rows, tokenizer, cfg.max_length) if eval_rows else None
    history = HistoryCallback()
    scratch = None if output_dir else tempfile.TemporaryDirectory(prefix="peft-course-run-")
    workdir = output_dir or scratch.name
    args = training_arguments(cfg, workdir, eval_ds is not None, **argument_overrides)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        data_collator=CompletionCollator(tokenizer.pad_token_id),
        callbacks=[history, *(callbacks or [])],
    )
    start = time.perf_counter()
    try:
        trainer.train(resume_from_checkpoint=resume_from_checkpoint)
        if eval_ds is not None:
            trainer.evaluate()
    finally:
        if scratch is not None:
            scratch.cleanup()
    seconds = time.perf_counter() - start
    model.eval()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return TrainResult(
        model=model,
        history={"train": history.train, "eval": history.eval},
        seconds=seconds,
        trainable=trainable,
        config=asdict(cfg),
    )
