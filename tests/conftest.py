"""Shared fixtures: the embedded model and tokenizer, loaded once per test session, and a tiny
random Llama saved with the course tokenizer (plumbing tests, not quality)."""

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tokenizer():
    from peft_course.models import load_tokenizer

    return load_tokenizer()


@pytest.fixture(scope="session")
def model():
    from peft_course.models import load_model

    return load_model()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from peft_course.models import prepare_default_model

    folder = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = AutoTokenizer.from_pretrained(prepare_default_model())
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(folder)  # safetensors
    tokenizer.save_pretrained(folder)
    return folder
