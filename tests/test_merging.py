"""The course's reference merge (notebook 07, Exercise 1) on a tiny random model: the merged model
computes what the adapter model computes, a half-precision merge rounds each weight once, and a
merge with non-finite weights is refused with the base untouched."""

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

from peft_course.merging import merge_for_serving


def adapter_model(seed: int = 0) -> PeftModel:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
    )
    model = get_peft_model(
        LlamaForCausalLM(config), LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"])
    )
    with torch.no_grad():  # a trained-looking adapter: B is zero at initialisation
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(std=0.05)
    return model.eval()


def test_merged_model_computes_what_the_adapter_computes():
    model = adapter_model()
    ids = torch.randint(0, 64, (2, 7))
    with torch.no_grad():
        expected = model(input_ids=ids).logits
        merged = merge_for_serving(model)
        got = merged(input_ids=ids).logits
    assert not isinstance(merged, PeftModel)
    assert not any("lora_" in name for name, _ in merged.named_modules())
    assert (got - expected).abs().max().item() < 1e-5


def test_half_precision_merge_rounds_each_weight_once():
    model = adapter_model()
    layer = model.base_model.model.model.layers[1].self_attn.q_proj
    with torch.no_grad():
        exact = layer.base_layer.weight + layer.get_delta_weight("default")
    merged = merge_for_serving(model, torch.bfloat16)
    weight = merged.model.layers[1].self_attn.q_proj.weight
    assert weight.dtype == torch.bfloat16
    assert torch.equal(weight, exact.to(torch.bfloat16))

    # the wrong order, cast then merge, rounds twice and lands elsewhere on some entries
    twice = adapter_model().to(torch.bfloat16).merge_and_unload()
    assert not torch.equal(twice.model.layers[1].self_attn.q_proj.weight, weight)


def test_non_finite_merge_is_refused_and_the_base_kept():
    model = adapter_model()
    layer = model.base_model.model.model.layers[0].self_attn.v_proj
    with torch.no_grad():
        layer.lora_B["default"].weight[0, 0] = float("inf")
    before = layer.base_layer.weight.detach().clone()
    with pytest.raises(ValueError):
        merge_for_serving(model)
    assert torch.equal(layer.base_layer.weight, before)
