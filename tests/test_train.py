"""`TrainConfig` (names, target sets, validation), `train_lora` (steps and history from the
Trainer) and `save_adapter` (atomic; OLoRA/PiSSA converted to a LoRA for the untouched base)."""

from __future__ import annotations

import json

import pytest
import torch

from peft_course.files import atomic_folder, write_text_atomic
from peft_course.lora import matches_target
from peft_course.train import (
    TARGET_SETS,
    TrainConfig,
    loss_history,
    resolve_target_modules,
    save_adapter,
    train_lora,
)


def test_all_linear_stays_a_string():
    cfg = TrainConfig(target_modules="all-linear")
    assert cfg.target_modules == "all-linear"  # not ["a", "l", "l", ...]
    assert cfg.lora_config().target_modules == "all-linear"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("attention", TARGET_SETS["attention"]),
        (["minimal"], TARGET_SETS["minimal"]),
        ("q_proj, v_proj", ["q_proj", "v_proj"]),
        (["q_proj,k_proj", "o_proj"], ["q_proj", "k_proj", "o_proj"]),
        (["all-linear"], "all-linear"),
    ],
)
def test_target_specs(spec, expected):
    assert resolve_target_modules(spec) == expected
    assert TrainConfig(target_modules=spec).target_modules == expected


def test_defaults_are_the_transformers_and_peft_names():
    cfg = TrainConfig(
        learning_rate=1e-3, max_steps=7, per_device_train_batch_size=2, init_lora_weights=True
    )
    assert cfg.init_lora_weights == "default" and cfg.lora_config().init_lora_weights is True
    lora = cfg.lora_config()
    assert (lora.r, lora.lora_alpha, set(lora.target_modules)) == (
        8,
        16,
        set(TARGET_SETS["attention"]),
    )


@pytest.mark.parametrize(
    ("changes", "phrase"),
    [
        ({"r": 0}, "r (--lora-r) must be a positive integer"),
        (
            {"num_train_epochs": 0},
            "set num_train_epochs (--epochs) > 0 or max_steps (--max-steps) > 0",
        ),
        (
            {"init_lora_weights": "lora-ga"},
            "init_lora_weights (--init-lora-weights) must be default",
        ),
        ({"target_modules": []}, "target_modules (--target-modules) is empty"),
        ({"warmup_ratio": 1.0}, "warmup_ratio (--warmup-ratio) must be in [0, 1)"),
    ],
)
def test_validation_names_the_field_and_the_flag(changes, phrase):
    with pytest.raises(ValueError, match=None) as err:
        TrainConfig(**changes)
    assert phrase in str(err.value)


def test_matching_rule_is_peft_s():
    assert matches_target("model.layers.0.self_attn.q_proj", ["q_proj"])
    assert matches_target("model.layers.0.self_attn.q_proj", ["self_attn.q_proj"])
    assert not matches_target("model.layers.0.self_attn.q_proj_extra", ["q_proj"])


def test_atomic_folder_keeps_the_old_one_on_error(tmp_path):
    target = tmp_path / "adapter"
    with atomic_folder(target) as tmp:
        (tmp / "a.txt").write_text("first")
    with pytest.raises(FileExistsError):
        with atomic_folder(target):
            pass
    with pytest.raises(RuntimeError):
        with atomic_folder(target, overwrite=True) as tmp:
            (tmp / "a.txt").write_text("half")
            raise RuntimeError("killed")
    assert (target / "a.txt").read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter"]  # no temporary left
    write_text_atomic(tmp_path / "t.json", "{}\n")
    assert (tmp_path / "t.json").read_text() == "{}\n"


def _rows(n=8):
    from datasets import Dataset

    return Dataset.from_list(
        [
            {"prompt": f"Say {w}.", "completion": w}
            for w in ["yes", "no", "maybe", "soon"] * (n // 4)
        ]
    )


@pytest.mark.slow
@pytest.mark.parametrize("init", ["olora", "pissa"])
def test_converted_adapter_on_the_untouched_base_gives_the_trained_logits(
    init, tiny_model, tmp_path, monkeypatch
):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    monkeypatch.setenv("PEFT_COURSE_DEVICE", "cpu")
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    ids = torch.tensor([[1, 5, 9, 14, 27, 3]])
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    with torch.no_grad():
        base_logits = base(ids).logits
    cfg = TrainConfig(
        r=4,
        lora_alpha=8,
        lora_dropout=0.0,
        target_modules="minimal",
        init_lora_weights=init,
        learning_rate=5e-2,
        max_steps=4,
        per_device_train_batch_size=4,
        warmup_ratio=0.0,
    )
    result = train_lora(base, tokenizer, _rows(), cfg=cfg, disable_tqdm=True)
    assert result.steps == 4 and [s for s, _ in result.history["train"]] == [1, 2, 3, 4]
    assert loss_history(result.log_history) == result.history  # the Trainer's raw log, kept
    with torch.no_grad():
        trained = result.model(ids).logits
    folder = save_adapter(
        result, tmp_path / init, tokenizer=tokenizer, files={"note.txt": "made by a test"}
    )
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["r"] == 8 and config["init_lora_weights"] is True  # rank 2r, plain LoRA
    assert not (folder / "README.md").exists() and (folder / "note.txt").is_file()

    untouched = AutoModelForCausalLM.from_pretrained(tiny_model)
    reloaded = PeftModel.from_pretrained(untouched, folder)
    with torch.no_grad():
        shared = reloaded(ids).logits
    moved = float((trained - base_logits).abs().max())
    error = float((shared - trained).abs().max())
    assert moved > 1e-2, f"training did not change the logits ({moved:.1e})"
    assert error < 1e-4, f"converted adapter differs from the trained model by {error:.1e}"


def test_checkpointing_flag_follows_the_installed_transformers(monkeypatch):
    """transformers 5.17 (the GPU machine's) has gradient_checkpointing only; newer 5.x renamed it."""
    import dataclasses

    from peft_course import train

    assert train._checkpointing_arguments(True) == {
        "activation_checkpointing": True,
        "activation_checkpointing_kwargs": {"use_reentrant": False},
    }

    @dataclasses.dataclass
    class OlderArguments:  # the fields of an older TrainingArguments that matter here
        gradient_checkpointing: bool = False
        gradient_checkpointing_kwargs: dict | None = None

    monkeypatch.setattr(train, "TrainingArguments", OlderArguments)
    assert train._checkpointing_arguments(False) == {
        "gradient_checkpointing": False,
        "gradient_checkpointing_kwargs": {"use_reentrant": False},
    }
