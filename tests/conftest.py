"""Shared fixtures: a flushed test Redis database per test and the fake OpenAI-compatible server."""

import pytest
import redis
from django.conf import settings

from tests.fakes.openai_server import FakeOpenAI


@pytest.fixture(autouse=True)
def _flush_test_redis():
    """Each test starts with an empty test Redis database (never index 0, the developer's)."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    assert client.connection_pool.connection_kwargs.get("db", 0) != 0, "tests must not use Redis database 0"
    client.flushdb()
    yield
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def _fake_openai_server():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def fake_openai(_fake_openai_server, settings):
    """The fake OpenAI server, reset for this test, with the project's client pointed at it."""
    _fake_openai_server.reset()
    settings.OPENAI_BASE_URL = _fake_openai_server.base_url
    settings.OPENAI_API_KEY = "test-key"
    yield _fake_openai_server
    _fake_openai_server.reset()


@pytest.fixture
def closed_port() -> int:
    """A loopback TCP port with nothing listening on it (connections are refused at once)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
