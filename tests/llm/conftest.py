"""Fixtures of the llm tests."""

from uuid import uuid4

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


@pytest.fixture
def session_id():
    """A session id of its own for the test (sessions live in Redis only, as far as llm knows)."""
    return uuid4()


@pytest.fixture
def no_retries(settings):
    """Model failures fail at once, without the client's retries."""
    settings.LLM_MAX_RETRIES = 0
