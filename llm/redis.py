"""Redis clients for conversation state: one connection pool per process, with bounded socket timeouts."""

from functools import cache

import redis

from llm.conf import get_settings


def sync_client() -> redis.Redis:
    cfg = get_settings()
    return _client(cfg.redis_url, cfg.redis_connect_timeout, cfg.redis_socket_timeout)


@cache
def _client(url: str, connect_timeout: float, socket_timeout: float) -> redis.Redis:
    # Keyed by configuration so that a settings change (tests, reconfiguration) gets its own pool.
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=connect_timeout,
        socket_timeout=socket_timeout,
        health_check_interval=30,
    )
