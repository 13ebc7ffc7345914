"""Unit tests of the scratch LoRA in peft_course.lora (fast, CPU, small random models)."""

from __future__ import annotations

import copy

import pytest
import torch
from peft import LoraConfig, get_peft_model
from torch import nn
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM
from transformers.pytorch_utils import Conv1D

from peft_course.lora import LoraLinear, count_parameters, inject_lora

QV = ["q_proj", "v_proj"]


@pytest.fixture(scope="module")
def tiny_llama():
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="module")
def tiny_gpt2():
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=64, n_positions=32, n_embd=24, n_layer=2, n_head=4)
    return GPT2LMHeadModel(config).eval()


def _ids(vocab: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, vocab, (2, 7), generator=torch.Generator().manual_seed(seed))


def _randomise_b(model: nn.Module) -> None:
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, LoraLinear):
                module.lora_B.weight.normal_(0, 0.1)


def _copy_into_peft_and_compare(scratch, peft_model, names, ids) -> float:
    """Copy each scratch layer's lora_A/lora_B into the PEFT model; max |logit difference|."""
    with torch.no_grad():
        for name in names:
            ours = scratch.get_submodule(name)
            theirs = peft_model.base_model.model.get_submodule(name)
            theirs.lora_A["default"].weight.copy_(ours.lora_A.weight)
            theirs.lora_B["default"].weight.copy_(ours.lora_B.weight)
        return (scratch(ids).logits - peft_model(input_ids=ids).logits).abs().max().item()


def test_layer_shapes_init_and_frozen_base():
    base = nn.Linear(10, 6)
    layer = LoraLinear(base, r=2, lora_alpha=4, lora_dropout=0.1)
    assert layer.lora_A.weight.shape == (2, 10)
    assert layer.lora_B.weight.shape == (6, 2)
    assert layer.scaling == 2.0
    assert torch.count_nonzero(layer.lora_B.weight) == 0
    assert torch.count_nonzero(layer.lora_A.weight) > 0
    assert not base.weight.requires_grad and not base.bias.requires_grad
    assert isinstance(layer.lora_dropout, nn.Dropout)
    with pytest.raises(ValueError):
        LoraLinear(nn.Linear(4, 4), r=0, lora_alpha=1)


def test_b_zero_leaves_outputs_unchanged(tiny_llama):
    ids = _ids(64)
    with torch.no_grad():
        before = tiny_llama(ids).logits
        model = copy.deepcopy(tiny_llama)
        inject_lora(model, QV, r=4, lora_alpha=8)
        after = model(ids).logits
    assert torch.equal(before, after)


def test_trainable_count_formula(tiny_llama):
    model = copy.deepcopy(tiny_llama)
    names = inject_lora(model, QV, r=4, lora_alpha=8)
    assert len(names) == 2 * 2
    expected = 0
    for name in names:
        layer = model.get_submodule(name)
        expected += 4 * (layer.base_layer.in_features + layer.base_layer.out_features)
    trainable, total = count_parameters(model)
    assert trainable == expected == 2 * 4 * ((32 + 32) + (32 + 16))  # GQA: v_proj 32 -> 16
    assert total == sum(p.numel() for p in tiny_llama.parameters()) + trainable
    assert all("lora_" in n for n, p in model.named_parameters() if p.requires_grad)


def test_no_match_raises(tiny_llama):
    with pytest.raises(ValueError):
        inject_lora(copy.deepcopy(tiny_llama), ["nope"], r=2, lora_alpha=2)


def test_same_logits_as_peft(tiny_llama):
    ids = _ids(64)
    scratch = copy.deepcopy(tiny_llama)
    names = inject_lora(scratch, QV, r=4, lora_alpha=8)
    _randomise_b(scratch)
    peft_model = get_peft_model(
        copy.deepcopy(tiny_llama), LoraConfig(r=4, lora_alpha=8, target_modules=QV)
    )
    diff = _copy_into_peft_and_compare(scratch, peft_model, names, ids)
    assert diff <= 1e-5
    assert count_parameters(scratch)[0] == peft_model.get_nb_trainable_parameters()[0]


def test_merge_and_unmerge(tiny_llama):
    ids = _ids(64)
    model = copy.deepcopy(tiny_llama)
    inject_lora(model, QV, r=4, lora_alpha=8)
    _randomise_b(model)
    with torch.no_grad():
        adapted = model(ids).logits
        assert not torch.allclose(adapted, tiny_llama(ids).logits)
        for module in model.modules():
            if isinstance(module, LoraLinear):
                module.merge()
        merged = model(ids).logits
        assert torch.allclose(merged, adapted, atol=1e-5)
        for module in model.modules():
            if isinstance(module, LoraLinear):
                module.unmerge()
        assert torch.allclose(model(ids).logits, adapted, atol=1e-5)  # adapter active again
        original = dict(tiny_llama.named_parameters())
        for name, module in model.named_modules():
            if isinstance(module, LoraLinear):
                w0 = original[f"{name}.weight"]
                assert torch.allclose(module.base_layer.weight, w0, atol=1e-6)


def test_conv1d_fan_in_fan_out():
    torch.manual_seed(0)
    conv = Conv1D(6, 4)  # nf=6 outputs, nx=4 inputs: weight (4, 6) = (d_in, d_out)
    layer = LoraLinear(conv, r=2, lora_alpha=2, fan_in_fan_out=True)
    assert layer.lora_A.weight.shape == (2, 4) and layer.lora_B.weight.shape == (6, 2)
    with torch.no_grad():
        layer.lora_B.weight.normal_()
        x = torch.randn(3, 4)
        expected = x @ conv.weight + conv.bias + x @ (layer.lora_B.weight @ layer.lora_A.weight).T
        assert torch.allclose(layer(x), expected, atol=1e-5)
        assert layer.delta_weight().shape == conv.weight.shape
        layer.merge()
        assert torch.allclose(layer(x), expected, atol=1e-5)


def test_gpt2_conv1d_matches_peft(tiny_gpt2):
    ids = _ids(64)
    scratch = copy.deepcopy(tiny_gpt2)
    names = inject_lora(scratch, ["c_attn"], r=2, lora_alpha=4)
    assert all(scratch.get_submodule(n).fan_in_fan_out for n in names)
    _randomise_b(scratch)
    peft_model = get_peft_model(
        copy.deepcopy(tiny_gpt2),
        LoraConfig(r=2, lora_alpha=4, target_modules=["c_attn"], fan_in_fan_out=True),
    )
    diff = _copy_into_peft_and_compare(scratch, peft_model, names, ids)
    assert diff <= 1e-5
    assert count_parameters(scratch)[0] == 2 * 2 * (24 + 3 * 24)
