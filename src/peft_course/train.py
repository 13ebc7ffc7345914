"""LoRA fine-tuning with the transformers Trainer on a PEFT model: one description of a run
(`TrainConfig`) and one code path for the notebooks, the adapters the course ships and `train-lora`."""

from __future__ import annotations

import dataclasses
import tempfile
import time
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Literal

from peft import LoraConfig, PeftModel, get_peft_model
from transformers import Trainer, TrainingArguments

from .data import CompletionCollator, tokenize_dataset
from .device import get_device, is_main_process, mixed_precision, set_seed
from .files import atomic_folder

# Named target-module sets for Llama-family models (SmolLM2, Llama, Mistral, Qwen).
TARGET_SETS = {
    "minimal": ["q_proj", "v_proj"],
    "attention": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "all": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
}
# Initialisations that rewrite the base weights (a residual): saved converted to a plain LoRA.
CONVERTED_INITS = ("olora", "pissa")


def resolve_target_modules(spec: str | list[str]) -> str | list[str]:
    """Module names for ``target_modules``: a set name of ``TARGET_SETS``, ``"all-linear"`` (PEFT
    picks every linear layer but the output head), comma-separated names, or a list of names.

    Introduced in 04_lora_sft.
    """
    items = [spec] if isinstance(spec, str) else list(spec)
    names = [n.strip() for item in items for n in str(item).split(",") if n.strip()]
    if names == ["all-linear"]:
        return "all-linear"
    if len(names) == 1 and names[0] in TARGET_SETS:
        return list(TARGET_SETS[names[0]])
    return names


def config_field(default, help: str, *aliases: str, **kwargs):
    """A dataclass field with its ``--help`` text (and extra flag names) for HfArgumentParser.

    Plumbing: `train-lora` parses its flags straight into the dataclasses built with it.
    """
    metadata = {"help": help, **({"aliases": list(aliases)} if aliases else {})}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata, **kwargs)
    return field(default=default, metadata=metadata, **kwargs)


@dataclass
class TrainConfig:
    """Every setting of one LoRA run, under the names PEFT (``LoraConfig``) and transformers
    (``TrainingArguments``) use; `train-lora` parses its flags straight into it.

    Introduced in 04_lora_sft.
    """

    _argument_group_name = "adapter (peft.LoraConfig) and optimisation (TrainingArguments)"

    # --- the adapter: peft.LoraConfig ---
    r: int = config_field(8, "rank r of lora_A (r x d_in) and lora_B (d_out x r)", "--lora-r")
    lora_alpha: float = config_field(16, "scaling = lora_alpha / r")
    lora_dropout: float = config_field(0.05, "dropout on the adapter's input, in [0, 1)")
    target_modules: list[str] | str = config_field(
        ["attention"],
        "module names (comma- or space-separated), all-linear, or a set: "
        "minimal = q,v; attention = q,k,v,o; all = attention + gate,up,down",
    )
    init_lora_weights: Literal["default", "gaussian", "olora", "pissa"] = config_field(
        "default",
        "default (Kaiming A, zero B), gaussian, olora or pissa; olora/pissa are saved "
        "converted to a plain LoRA for the untouched base",
    )
    # --- the optimisation: transformers.TrainingArguments ---
    learning_rate: float = config_field(2e-3, "peak AdamW learning rate (linear decay)")
    num_train_epochs: float = config_field(1.0, "passes over the training rows", "--epochs")
    max_steps: int = config_field(0, "optimizer steps; > 0 overrides num_train_epochs")
    per_device_train_batch_size: int = config_field(
        8, "examples per optimizer micro-step, per process", "--batch-size"
    )
    gradient_accumulation_steps: int = config_field(1, "micro-batches per optimizer step")
    warmup_ratio: float = config_field(0.05, "fraction of the steps spent warming up, in [0, 1)")
    weight_decay: float = config_field(0.0, "AdamW weight decay (applied to the adapter weights)")
    lr_scheduler_type: str = config_field("linear", "learning-rate schedule after warm-up")
    activation_checkpointing: bool = config_field(
        False,
        "recompute activations in backward: less memory, about a third slower",
        "--gradient-checkpointing",
    )
    max_length: int = config_field(256, "tokens per example; longer ones are cut")
    seed: int = config_field(0, "seed for the adapter init, data order and dropout")
    logging_steps: int = config_field(1, "log the training loss every N steps")
    eval_steps: int = config_field(0, "validation loss every N steps (0: at the end only)")

    def __post_init__(self):
        if self.init_lora_weights is True:  # PEFT's spelling of the default
            self.init_lora_weights = "default"
        self.target_modules = resolve_target_modules(self.target_modules)
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad setting and what to use instead."""

        def name(key: str) -> str:  # the field and its `train-lora` flag
            meta = next(f.metadata for f in fields(self) if f.name == key)
            return f"{key} ({(meta.get('aliases') or ['--' + key.replace('_', '-')])[0]})"

        checks = [
            (self.r > 0, f"{name('r')} must be a positive integer (got {self.r}); try 8 or 16"),
            (
                self.lora_alpha > 0,
                f"{name('lora_alpha')} must be > 0 (got {self.lora_alpha}); "
                "a common choice is 2 x r",
            ),
            (
                0 <= self.lora_dropout < 1,
                f"{name('lora_dropout')} must be in [0, 1) (got {self.lora_dropout}); try 0.05",
            ),
            (
                bool(self.target_modules),
                f"{name('target_modules')} is empty; give module names "
                "or minimal, attention, all, all-linear",
            ),
            (
                self.init_lora_weights in ("default", "gaussian", *CONVERTED_INITS),
                f"{name('init_lora_weights')} must be default, gaussian, olora or pissa (got "
                f"{self.init_lora_weights!r})",
            ),
            (
                self.learning_rate > 0,
                f"{name('learning_rate')} must be > 0 (got {self.learning_rate})",
            ),
            (self.max_steps >= 0, f"{name('max_steps')} must be >= 0 (got {self.max_steps})"),
            (
                self.num_train_epochs > 0 or self.max_steps > 0,
                f"set {name('num_train_epochs')} > 0 or {name('max_steps')} > 0",
            ),
            (
                self.per_device_train_batch_size >= 1,
                f"{name('per_device_train_batch_size')} "
                f"must be >= 1 (got {self.per_device_train_batch_size})",
            ),
            (
                self.gradient_accumulation_steps >= 1,
                f"{name('gradient_accumulation_steps')} must be >= 1",
            ),
            (
                0 <= self.warmup_ratio < 1,
                f"{name('warmup_ratio')} must be in [0, 1) (got {self.warmup_ratio})",
            ),
            (
                self.weight_decay >= 0,
                f"{name('weight_decay')} must be >= 0 (got {self.weight_decay})",
            ),
            (
                self.max_length >= 8,
                f"{name('max_length')} must be at least 8 tokens (got {self.max_length})",
            ),
            (
                self.logging_steps >= 1 and self.eval_steps >= 0,
                f"{name('logging_steps')} must be >= 1 and {name('eval_steps')} >= 0",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    def lora_config(self) -> LoraConfig:
        """The PEFT ``LoraConfig`` these settings describe."""
        init = self.init_lora_weights
        return LoraConfig(
            r=self.r,
            lora_alpha=self.lora_alpha,
            lora_dropout=self.lora_dropout,
            target_modules=self.target_modules,
            init_lora_weights=True if init == "default" else init,
            task_type="CAUSAL_LM",
        )


@dataclass
class TrainResult:
    model: PeftModel  # trained in place
    history: dict  # {"train": [(step, loss)], "eval": [(step, eval_loss)]}, from the Trainer
    steps: int  # optimizer steps taken (the Trainer's global_step)
    seconds: float
    trainable: int
    config: dict  # asdict(TrainConfig)
    initial_adapter: str | None = None  # the adapter before training (OLoRA/PiSSA conversion)
    _keep: object = field(default=None, repr=False)  # keeps a temporary initial_adapter alive
    log_history: list = field(default_factory=list, repr=False)  # the Trainer's log entries


def _checkpointing_arguments(enabled: bool) -> dict:
    """transformers renamed ``gradient_checkpointing`` to ``activation_checkpointing`` during 5.x
    (5.17, on a GPU machine here, has only the old name): use whichever this version has."""
    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    name = (
        "activation_checkpointing"
        if "activation_checkpointing" in names
        else "gradient_checkpointing"
    )
    return {name: enabled, f"{name}_kwargs": {"use_reentrant": False}}


def training_arguments(cfg: TrainConfig, output_dir: str, has_eval: bool, **overrides):
    """``TrainingArguments`` for a LoRA run on the current device (fp32 on CPU, bf16/fp16 on
    GPUs that support them). Introduced in 04_lora_sft."""
    device = get_device()
    kwargs = dict(
        output_dir=output_dir,
        max_steps=cfg.max_steps if cfg.max_steps > 0 else -1,
        num_train_epochs=cfg.num_train_epochs,
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        per_device_eval_batch_size=cfg.per_device_train_batch_size * 2,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler_type,
        warmup_steps=cfg.warmup_ratio,  # a float < 1 is a fraction of the total steps
        weight_decay=cfg.weight_decay,
        **_checkpointing_arguments(cfg.activation_checkpointing),
        logging_steps=cfg.logging_steps,
        eval_strategy=("steps" if cfg.eval_steps else "no") if has_eval else "no",
        eval_steps=cfg.eval_steps or None,
        save_strategy="no",
        report_to="none",
        seed=cfg.seed,
        data_seed=cfg.seed,
        **mixed_precision(device),
        use_cpu=device.type == "cpu",
        dataloader_num_workers=0,
        remove_unused_columns=False,
        disable_tqdm=False,
    )
    kwargs.update(overrides)
    return TrainingArguments(**kwargs)


def _tokenized(rows, tokenizer, max_length: int):
    if {"input_ids", "labels"} <= set(rows.column_names):
        return rows
    return tokenize_dataset(rows, tokenizer, max_length)


def loss_history(log_history: list[dict]) -> dict:
    """``{"train": [(step, loss)], "eval": [(step, eval_loss)]}`` from a Trainer's
    ``trainer.state.log_history``. Introduced in 04_lora_sft."""
    return {
        "train": [(e["step"], float(e["loss"])) for e in log_history if "loss" in e],
        "eval": [(e["step"], float(e["eval_loss"])) for e in log_history if "eval_loss" in e],
    }


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
        train_rows / eval_rows: ``datasets.Dataset`` with ``prompt`` and ``completion`` (or
            already tokenized ``input_ids`` and ``labels``, e.g. from ``data.tokenize_rows``).
        cfg: run settings; ``TrainConfig()`` when None.
        output_dir: Trainer working folder (a temporary one when None); nothing is saved
            unless ``argument_overrides`` asks for checkpoints. With ``init_lora_weights`` olora
            or pissa the adapter before training is kept in ``output_dir/initial_adapter``, for
            ``save_adapter``'s conversion.
        resume_from_checkpoint: a checkpoint folder (or True: the newest in ``output_dir``) to
            continue from; its loss history comes back with the Trainer's state.

    Introduced in 04_lora_sft.
    """
    cfg = cfg or TrainConfig()
    set_seed(cfg.seed)  # the adapter's init; the Trainer re-seeds data order and dropout
    initial, keep = None, None
    if not isinstance(model, PeftModel):
        model = get_peft_model(model, cfg.lora_config())
        if cfg.init_lora_weights in CONVERTED_INITS and is_main_process():
            if output_dir is None:
                keep = tempfile.TemporaryDirectory(prefix="peft-course-init-")
            folder = Path(keep.name if keep else output_dir) / "initial_adapter"
            if not (folder / "adapter_config.json").is_file():  # a resumed run keeps the first
                with _converting():
                    model.save_pretrained(folder, save_embedding_layers=False)
            initial = str(folder)
    train_ds = _tokenized(train_rows, tokenizer, cfg.max_length)
    eval_ds = _tokenized(eval_rows, tokenizer, cfg.max_length) if eval_rows else None
    scratch = None if output_dir else tempfile.TemporaryDirectory(prefix="peft-course-run-")
    args = training_arguments(
        cfg, output_dir or scratch.name, eval_ds is not None, **argument_overrides
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        data_collator=CompletionCollator(tokenizer.pad_token_id),
        callbacks=callbacks,
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
    return TrainResult(
        model=model,
        history=loss_history(trainer.state.log_history),
        log_history=list(trainer.state.log_history),
        steps=trainer.state.global_step,
        seconds=seconds,
        trainable=sum(p.numel() for p in model.parameters() if p.requires_grad),
        config=asdict(cfg),
        initial_adapter=initial,
        _keep=keep,
    )


@contextmanager
def _converting():
    """Silence PEFT's "OLoRA/PiSSA changes the base weights ... consider converting" warning
    while doing exactly that conversion."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*changes the base weights")
        yield


def save_adapter(
    result: TrainResult,
    folder: str | Path,
    *,
    tokenizer=None,
    files: dict[str, str | bytes] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the trained adapter to ``folder`` atomically: ``adapter_config.json`` and
    ``adapter_model.safetensors`` (an OLoRA/PiSSA adapter converted to a plain LoRA of rank 2r
    that applies to the untouched base), the tokenizer if given, and ``files`` (name -> text or
    bytes, e.g. a model card as ``README.md``). PEFT's unfilled model card is not kept. The
    course never resizes the vocabulary, so the embedding layers are not saved (and PEFT does not
    ask the hub whether the base's vocabulary changed).

    Introduced in 04_lora_sft.
    """
    with atomic_folder(folder, overwrite=overwrite) as tmp:
        if result.initial_adapter:
            with _converting():
                result.model.save_pretrained(
                    tmp,
                    path_initial_model_for_weight_conversion=result.initial_adapter,
                    save_embedding_layers=False,
                )
        else:
            result.model.save_pretrained(tmp, save_embedding_layers=False)
        (tmp / "README.md").unlink(missing_ok=True)  # PEFT's "[More Information Needed]" card
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
        for name, content in (files or {}).items():
            path = tmp / name
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
    return Path(folder)
