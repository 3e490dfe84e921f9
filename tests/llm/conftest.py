"""Fixtures of the llm tests."""

import pytest


@pytest.fixture
def fake(fake_openai, settings):
    """The fake server, with timeouts and retries small enough for fast tests."""
    settings.LLM_MODEL = "fake-model"
    settings.LLM_CONNECT_TIMEOUT = 0.5
    settings.LLM_READ_TIMEOUT = 0.5
    settings.LLM_MAX_RETRIES = 1
    settings.LLM_MAX_RETRY_AFTER = 0.3
    return fake_openai
