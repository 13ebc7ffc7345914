"""Shared fixtures: the embedded model and tokenizer, loaded once per test session."""

import pytest


@pytest.fixture(scope="session")
def tokenizer():
    from peft_course.models import load_tokenizer

    return load_tokenizer()


@pytest.fixture(scope="session")
def model():
    from peft_course.models import load_model

    return load_model()
