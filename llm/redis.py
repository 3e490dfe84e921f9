"""Redis clients for conversation state: one connection pool per process (per event loop for asyncio), with bounded
socket timeouts and a single retry, so that a Redis outage fails a request within about a second."""

import asyncio
from functools import cache

import redis
import redis.asyncio
from redis.backoff import NoBackoff
from redis.retry import Retry

from llm.conf import get_settings

# One retry covers a pooled connection that went stale (Redis restarted); more would only delay failing closed.
# Every Lua script of llm is idempotent under this retry (see llm/store/scripts.py).
_RETRIES = 1

# A client's connections hold their event loop, so a weak mapping would never let go: clients of closed loops are
# dropped when the next client is asked for instead.
_async_clients: dict[asyncio.AbstractEventLoop, dict[tuple, redis.asyncio.Redis]] = {}


def sync_client() -> redis.Redis:
    cfg = get_settings()
    return _client(cfg.redis_url, cfg.redis_connect_timeout, cfg.redis_socket_timeout)


def async_client() -> redis.asyncio.Redis:
    """The asyncio client of the running event loop: its connections belong to that loop and never leave it."""
    cfg = get_settings()
    config = (cfg.redis_url, cfg.redis_connect_timeout, cfg.redis_socket_timeout)
    for loop in list(_async_clients):  # a copy: event loops in other threads may add theirs meanwhile
        if loop.is_closed():
            _async_clients.pop(loop, None)
    clients = _async_clients.setdefault(asyncio.get_running_loop(), {})
    if config not in clients:
        clients[config] = redis.asyncio.Redis.from_url(
            cfg.redis_url,
            socket_connect_timeout=cfg.redis_connect_timeout,
            socket_timeout=cfg.redis_socket_timeout,
            health_check_interval=30,
            retry=Retry(NoBackoff(), _RETRIES),
        )
    return clients[config]


@cache
def _client(url: str, connect_timeout: float, socket_timeout: float) -> redis.Redis:
    # Keyed by configuration so that a settings change (tests, reconfiguration) gets its own pool.
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=connect_timeout,
        socket_timeout=socket_timeout,
        health_check_interval=30,
        retry=Retry(NoBackoff(), _RETRIES),
    )
