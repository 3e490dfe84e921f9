"""Shared fixtures: a flushed test Redis database per test and the fake OpenAI-compatible server."""

import fcntl
import hashlib
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from django.conf import settings

from llm import structured
from tests.fakes.openai import FakeOpenAI
from tests.people import ALICE, BOB, CHARLIE

# Process-level fixtures (app server under uvicorn, private Redis, fault proxies) for any test directory.
pytest_plugins = ["tests.harness.fixtures"]


def pytest_configure(config):
    """Hold a machine-wide lock on this run's test database and Redis index for the whole session.

    Two runs against the same test database would drop it under each other and flush each other's Redis keys;
    the second run waits for the first instead of failing in confusing ways.
    """
    target = f"{os.environ.get('DATABASE_URL', '')}|{os.environ.get('TEST_REDIS_URL', '')}"
    name = f"chatbot-tests-{hashlib.sha256(target.encode()).hexdigest()[:16]}.lock"
    handle = (Path(tempfile.gettempdir()) / name).open("w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print("waiting for another test run on the same database and Redis index...", file=sys.stderr)
        fcntl.flock(handle, fcntl.LOCK_EX)
    config._chatbot_test_lock = handle  # released when the process exits


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
    """The fake OpenAI server, reset for this test, with the project's client pointed at it. The structured-output
    shapes kept for an endpoint are forgotten around it, as in a new process."""
    _fake_openai_server.reset()
    structured.forget()
    settings.OPENAI_BASE_URL = _fake_openai_server.base_url
    settings.OPENAI_API_KEY = "test-key"
    yield _fake_openai_server
    _fake_openai_server.reset()
    structured.forget()


@pytest.fixture
def closed_port() -> int:
    """A loopback TCP port with nothing listening on it (connections are refused at once)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- customers: fixture customers ---------------------------------------------------------------------------
# The cast of tests/people.py in the database. Tests may arrange data with the models directly; application code
# outside `customers` may not.


@dataclass(frozen=True, slots=True)
class FixtureCustomer:
    user_id: int
    customer_id: int
    username: str
    token: str


@pytest.fixture
def make_customer(db):
    """Create a user (unusable password), their customer row and API token; fields override the customer's."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from customers.models import Customer

    def make(username: str, **fields: object) -> FixtureCustomer:
        user = get_user_model().objects.create_user(username=username)
        fields.setdefault("display_name", username.title())
        customer = Customer.objects.create(user=user, **fields)
        token = Token.objects.create(user=user)
        return FixtureCustomer(user_id=user.pk, customer_id=customer.pk, username=username, token=token.key)

    return make


@pytest.fixture
def alice(make_customer) -> FixtureCustomer:
    return make_customer(ALICE.username, **ALICE.profile())


@pytest.fixture
def bob(make_customer) -> FixtureCustomer:
    return make_customer(BOB.username, **BOB.profile())


@pytest.fixture
def charlie(make_customer) -> FixtureCustomer:
    return make_customer(CHARLIE.username, **CHARLIE.profile())


# --- end customers: fixture customers -----------------------------------------------------------------------
