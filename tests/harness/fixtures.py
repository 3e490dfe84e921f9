"""Fixtures that run the app, a private Redis and TCP fault proxies as separate processes (or threads); a pytest
plugin loaded by tests/conftest.py so that any test directory can use them.

Everything a fixture started is stopped at teardown, also when the test failed.
"""

import itertools
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack

import pytest
from django.conf import settings

from tests.fakes.openai import FakeOpenAI
from tests.harness.app_server import AppServer, database_url_for_tests
from tests.harness.redis_server import PrivateRedis
from tests.harness.tcp_proxy import FaultProxy

# Short bounds so that a fault shows up in seconds, not after production-sized waits.
APP_TEST_ENV = {
    "DATABASE_CONNECT_TIMEOUT": "1",
    "DATABASE_POOL_TIMEOUT": "2",
    "LLM_CONNECT_TIMEOUT": "1",
    "LLM_READ_TIMEOUT": "5",
    "LLM_MAX_RETRY_AFTER": "1",
}


@pytest.fixture
def fault_proxy_factory() -> Iterator[Callable[[str, int], FaultProxy]]:
    """`make(target_host, target_port)` starts a FaultProxy in pass-through mode."""
    with ExitStack() as stack:

        def make(target_host: str, target_port: int) -> FaultProxy:
            return stack.enter_context(FaultProxy(target_host, target_port))

        yield make


@pytest.fixture
def private_redis(tmp_path) -> Iterator[PrivateRedis]:
    """A running redis-server of this test's own (skips when redis-server is not installed)."""
    with PrivateRedis(directory=tmp_path / "redis") as server:
        yield server


@pytest.fixture
def app_server_factory(transactional_db, fault_proxy_factory, tmp_path) -> Iterator[Callable[..., AppServer]]:
    """`make(env=None, *, workers=2, openai=None, server=AppServer)` starts the app under uvicorn (or `server`, e.g.
    GunicornServer) and waits until it serves.

    Defaults: the pytest-django test database (committed data only: hence `transactional_db`), the test Redis
    database (settings.REDIS_URL, db 15), short timeouts, and the offline provider unless `openai` (the
    `fake_openai` fixture) is given. `env` overrides any of them. Servers stop before the database is flushed
    and before the fault proxies they may go through.
    """
    numbers = itertools.count(1)
    with ExitStack() as stack:

        def make(
            env: Mapping[str, str] | None = None,
            *,
            workers: int = 2,
            openai: FakeOpenAI | None = None,
            server: type[AppServer] = AppServer,
        ) -> AppServer:
            server_env = {"DATABASE_URL": database_url_for_tests(), "REDIS_URL": settings.REDIS_URL, **APP_TEST_ENV}
            if openai is not None:
                server_env |= {"OPENAI_BASE_URL": openai.base_url, "OPENAI_API_KEY": "test-key"}
            server_env |= env or {}
            log_dir = tmp_path / f"app-server-{next(numbers)}"
            app = server(server_env, workers=workers, log_dir=log_dir)
            stack.callback(app.stop)
            return app.start()

        yield make
