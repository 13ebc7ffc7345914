"""Device and dtype choice (mocked CPU / MPS / Ampere / older GPU), seeding, step counts."""

import random

import numpy as np
import pytest
import torch

from peft_course import device as dev


def _machine(monkeypatch, cuda=False, bf16=False, mps=False):
    monkeypatch.delenv("PEFT_COURSE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


@pytest.mark.parametrize(
    ("machine", "device_type", "dtype"),
    [
        ({}, "cpu", torch.float32),
        ({"mps": True}, "mps", torch.float32),
        ({"cuda": True, "bf16": True}, "cuda", torch.bfloat16),  # Ampere or newer
        ({"cuda": True, "bf16": False}, "cuda", torch.float16),  # e.g. a T4 (Turing)
        ({"cuda": True, "bf16": True, "mps": True}, "cuda", torch.bfloat16),  # CUDA wins
    ],
)
def test_device_and_dtype_choice(monkeypatch, machine, device_type, dtype):
    _machine(monkeypatch, **machine)
    assert dev.get_device().type == device_type
    assert dev.get_dtype() == dtype


@pytest.mark.parametrize(
    ("machine", "flags"),
    [
        ({}, {"bf16": False, "fp16": False}),
        ({"mps": True}, {"bf16": False, "fp16": False}),
        ({"cuda": True, "bf16": True}, {"bf16": True, "fp16": False}),
        ({"cuda": True, "bf16": False}, {"bf16": False, "fp16": True}),  # a T4: fp16 + loss scaling
    ],
)
def test_mixed_precision_is_chosen_in_one_place(monkeypatch, machine, flags):
    _machine(monkeypatch, **machine)
    assert dev.mixed_precision() == flags
    from peft_course.train import TrainConfig, training_arguments

    if not machine.get("cuda"):  # TrainingArguments refuses bf16/fp16 without the hardware
        args = training_arguments(TrainConfig(), "/tmp/unused", has_eval=False)
        assert (args.bf16, args.fp16) == (flags["bf16"], flags["fp16"])


def test_switched_off_capabilities_take_the_fallback(monkeypatch):
    _machine(monkeypatch, cuda=True, bf16=True)
    assert dev.half_unavailable(torch.bfloat16) is None
    monkeypatch.setenv("PEFT_COURSE_DISABLE", "bf16, bitsandbytes")
    assert dev.disabled_features() == {"bf16", "bitsandbytes"}
    assert "PEFT_COURSE_DISABLE" in dev.half_unavailable(torch.bfloat16)
    assert dev.half_unavailable(torch.float16) is None
    assert dev.mixed_precision() == {"bf16": False, "fp16": True}
    from peft_course.models import quantization_config, quantization_unavailable

    assert "PEFT_COURSE_DISABLE" in quantization_unavailable()
    with pytest.warns(UserWarning, match="Falling back to full precision"):
        assert quantization_config(load_in_8bit=True) is None


def test_device_override(monkeypatch):
    _machine(monkeypatch, cuda=True, bf16=True)
    monkeypatch.setenv("PEFT_COURSE_DEVICE", "cpu")
    assert dev.get_device().type == "cpu"
    assert dev.get_dtype() == torch.float32


def test_set_seed_reproduces_every_generator():
    dev.set_seed(7)
    first = (random.random(), np.random.rand(), torch.rand(3))
    dev.set_seed(7)
    second = (random.random(), np.random.rand(), torch.rand(3))
    assert first[0] == second[0] and first[1] == second[1]
    assert torch.equal(first[2], second[2])
    dev.set_seed(8)
    assert random.random() != first[0]


def test_steps_for_device(monkeypatch):
    monkeypatch.delenv("PEFT_COURSE_STEPS_SCALE", raising=False)
    assert dev.steps_for_device(cpu=30, gpu=300, device="cpu") == 30
    assert dev.steps_for_device(cpu=30, gpu=300, device="cuda") == 300
    monkeypatch.setenv("PEFT_COURSE_STEPS_SCALE", "0.1")
    assert dev.steps_for_device(cpu=30, gpu=300, device="cpu") == 3
    assert dev.steps_for_device(cpu=2, gpu=3, device="cpu") == 1  # never zero


def test_environment_report_names_versions():
    import peft
    import transformers

    report = dev.environment_report()
    text = str(report)
    for version in (torch.__version__, transformers.__version__, peft.__version__):
        assert version in text
    assert report.device == dev.get_device().type
    assert report.ram_gib > 0.5
