"""The read-through cache of `customers`: cache specs, key builders and `get_or_load`, all in this one module.
`get_many` reads several entries in one round trip (one MGET) and `load` fills each miss the way `get_or_load` does.

Entries go through Django's cache (django-redis, JSON serializer) as `{"value": ...}`; a null value records that the
row does not exist and lives CUSTOMER_CACHE_MISSING_TTL seconds, real values CUSTOMER_CACHE_TTL seconds.

A miss takes a short lease in Redis (SET NX PX) before loading, so when many threads and processes miss one key at
once, one of them queries the database and the others wait for its result, up to CUSTOMER_CACHE_FILL_TIMEOUT seconds,
after which they load it themselves. The lease also closes the race "reader loads the old row, writer commits and
invalidates, reader stores the old row": invalidation deletes the lease along with the entry, and a loader stores its
result only while it still holds its lease (checked and written atomically in Redis).

Redis (CACHE_REDIS_URL, by default REDIS_URL) is an optimisation, never a dependency of a read: when it is down or
slow (each call is bounded by REDIS_SOCKET_TIMEOUT), or refuses writes (a read-only replica, OOM, MISCONF), reads go
to the database and this process skips the cache for OUTAGE_RETRY_SECONDS, logging one warning per outage. An
invalidation that fails while Redis is unreachable leaves the entry to its TTL, which bounds how stale a read can get.
"""

import dataclasses
import hashlib
import logging
import secrets
import time
import typing
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from functools import cache as memoize
from typing import Any, TypeVar
from uuid import UUID

from django.conf import settings
from django.core.cache import cache
from django.core.signals import setting_changed
from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone
from django_redis import get_redis_connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, ReadOnlyError
from redis.exceptions import ResponseError as RedisResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from customers import spending
from customers.data import ApiUser, CustomerProfile, PastSessionSummary, ProfileProposal, SessionAccess

logger = logging.getLogger(__name__)

T = TypeVar("T")

MISS = object()  # what `get_many` answers for an entry the cache does not hold

# What the cache reads around: Redis unreachable or too slow, or answering but refusing writes (see
# `_refuses_writes`). They are caught as REDIS_ERRORS and re-raised unless `_is_outage`: any other error (a wrong
# type, a script error) is a bug and should surface.
REDIS_ERRORS = (RedisConnectionError, RedisTimeoutError, TimeoutError, RedisResponseError)
# Error replies of a Redis that refuses writes for a while: a replica during a failover (READONLY; MASTERDOWN when it
# serves no stale data), memory full under `noeviction` (OOM), a failed snapshot under `stop-writes-on-bgsave-error`
# (MISCONF), too few replicas under `min-replicas-to-write` (NOREPLICAS). redis-py strips the READONLY and OOM
# prefixes from ReadOnlyError and OutOfMemoryError, hence the classes.
_REFUSED_WRITE_PREFIXES = ("READONLY", "OOM", "MISCONF", "MASTERDOWN", "NOREPLICAS")
OUTAGE_RETRY_SECONDS = 10.0
POLL_SECONDS = 0.02

# Stores the entry only while the caller still holds its lease, and frees the lease.
# KEYS: entry, lease. ARGV: lease token, encoded entry, TTL in milliseconds.
_STORE_IF_LEASED = """
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
"""
# Frees the lease if the caller still holds it. KEYS: lease. ARGV: lease token.
_RELEASE_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclasses.dataclass(frozen=True, slots=True)
class CacheSpec:
    """One kind of cached entry. Bump the version in `prefix` whenever the cached shape or meaning changes."""

    prefix: str
    kind: type  # a frozen dataclass of flat fields, or int
    many: bool = False  # the entry is a tuple of `kind`
    # When an entry loaded at a moment must be gone, at the latest (its value holds until then only); None: its TTL.
    until: Callable[[datetime], datetime] | None = None

    def key(self, ident: object) -> str:
        # The braces make `ident` a Redis Cluster hash tag, so an entry and its lease share a slot as the store
        # script requires.
        return f"{self.prefix}:{{{ident}}}"


API_USER = CacheSpec("api-user:v1", ApiUser)  # ident: token_digest(key), never the token itself
CUSTOMER_OF_USER = CacheSpec("customer-of-user:v1", int)  # ident: user id
# ident: customer id; the prompt context derives from it. Its spending counts in its month only: gone by month's end.
CUSTOMER = CacheSpec("customer:v3", CustomerProfile, until=spending.month_ends_at)
SESSION_ACCESS = CacheSpec("session-access:v1", SessionAccess)  # ident: session id
PAST_SUMMARIES = CacheSpec("past-summaries:v1", PastSessionSummary, many=True)  # ident: customer id
PROPOSALS = CacheSpec("proposals:v1", ProfileProposal, many=True)  # ident: customer id; pending ones only


def token_digest(token: str) -> str:
    """What identifies an API token in cache keys, so that neither keys nor logs ever hold the token."""
    return hashlib.sha256(token.encode()).hexdigest()


def get_or_load(spec: CacheSpec, key: object, loader: Callable[[], T | None]) -> T | None:
    """The cached value of `spec` for `key`, else `loader()`'s result, cached (None too, as "absent").

    The loader's exceptions propagate and nothing is cached for them.
    """
    [value] = get_many([(spec, key)])
    return load(spec, key, loader) if value is MISS else value


def get_many(entries: Sequence[tuple[CacheSpec, object]]) -> list[Any]:
    """The cached values of `entries`, in order, read in one round trip (one MGET); MISS for each entry that is not
    cached, and for all of them while Redis is unavailable. Load each miss with `load`."""
    if _outage_active():
        return [MISS] * len(entries)
    names = [spec.key(key) for spec, key in entries]
    try:
        found = cache.get_many(names) if len(names) > 1 else {name: cache.get(name) for name in names}
    except REDIS_ERRORS as exc:
        _redis_failed(exc, "read")
        return [MISS] * len(entries)
    return [
        _decode(spec, found[name]["value"]) if found.get(name) is not None else MISS
        for (spec, _), name in zip(entries, names, strict=True)
    ]


def load(spec: CacheSpec, key: object, loader: Callable[[], T | None]) -> T | None:
    """After a miss: `loader()`'s result, cached under the fill lease (one loader per key across threads and
    processes; the others wait for its entry). Straight from the loader while Redis is unavailable."""
    if _outage_active():
        return loader()
    return _fill(spec, spec.key(key), loader)


def invalidate_on_commit(entries: Iterable[tuple[CacheSpec, object]]) -> None:
    """Drop the entries (and any fill in flight) once the current transaction commits; at once outside one."""
    names = [spec.key(key) for spec, key in entries]
    if names:
        transaction.on_commit(lambda: _delete(names))


def _fill(spec: CacheSpec, name: str, loader: Callable[[], T | None]) -> T | None:
    redis = get_redis_connection("default")
    lease_key, token = cache.make_key(f"{name}:lease"), secrets.token_hex(8)
    try:
        leased, entry = _lease_or_entry(redis, name, lease_key, token)
    except REDIS_ERRORS as exc:
        _redis_failed(exc, "read")
        return loader()
    if entry is not None:
        return _decode(spec, entry["value"])
    if not leased:
        # The loader holding the lease is stuck: answer without storing, as this load holds no lease.
        return loader()

    until = spec.until(timezone.now()) if spec.until else None  # taken before the load: what it reads holds till then
    try:
        value = loader()
    except BaseException:
        _release(redis, lease_key, token)
        raise
    ttl_ms = (settings.CUSTOMER_CACHE_TTL if value is not None else settings.CUSTOMER_CACHE_MISSING_TTL) * 1000
    if until is not None:
        ttl_ms = min(ttl_ms, int((until - timezone.now()).total_seconds() * 1000))
    if ttl_ms <= 0:
        _release(redis, lease_key, token)
        return value
    encoded = cache.client.encode({"value": _encode(value)})
    try:
        redis.eval(_STORE_IF_LEASED, 2, cache.make_key(name), lease_key, token, encoded, ttl_ms)
    except REDIS_ERRORS as exc:
        _redis_failed(exc, "write")
    return value


def _lease_or_entry(redis: Any, name: str, lease_key: str, token: str) -> tuple[bool, dict | None]:
    """Take the fill lease, or wait for its holder's entry; (False, None) when the wait runs out."""
    wait = settings.CUSTOMER_CACHE_FILL_TIMEOUT
    deadline = time.monotonic() + wait
    while not redis.set(lease_key, token, nx=True, px=max(1, int(wait * 1000))):
        if time.monotonic() >= deadline:
            return False, None
        time.sleep(POLL_SECONDS)
        entry = cache.get(name)
        if entry is not None:
            return False, entry
    # The previous holder may have stored its entry and freed the lease between our last look and our SET.
    entry = cache.get(name)
    if entry is not None:
        _release(redis, lease_key, token)
        return False, entry
    return True, None


def _release(redis: Any, lease_key: str, token: str) -> None:
    try:
        redis.eval(_RELEASE_LEASE, 1, lease_key, token)
    except REDIS_ERRORS as exc:
        _redis_failed(exc, "write")


def _delete(names: list[str]) -> None:
    try:
        cache.delete_many([*names, *(f"{name}:lease" for name in names)])
    except REDIS_ERRORS as exc:
        _redis_failed(exc, "invalidate")


# --- Redis outages ----------------------------------------------------------------------------------------

_outage_until = 0.0  # monotonic time until which this process reads around the cache


def _outage_active() -> bool:
    return time.monotonic() < _outage_until


def _is_outage(exc: Exception) -> bool:
    """Redis cannot serve the cache now: unreachable, too slow, or refusing writes."""
    if not isinstance(exc, RedisResponseError):
        return True
    if isinstance(exc, ReadOnlyError | OutOfMemoryError):
        return True
    return str(exc).startswith(_REFUSED_WRITE_PREFIXES)


def _redis_failed(exc: Exception, during: str) -> None:
    """Read around the cache for a while (called in an `except REDIS_ERRORS` block); re-raise what is no outage."""
    global _outage_until
    if not _is_outage(exc):
        raise exc
    now = time.monotonic()
    if now >= _outage_until:
        logger.warning(
            "customer cache unavailable, reading from the database",
            extra={"error": type(exc).__name__, "during": during, "retry_in_s": OUTAGE_RETRY_SECONDS},
        )
    _outage_until = now + OUTAGE_RETRY_SECONDS


@receiver(setting_changed)
def _forget_outage_on_cache_change(*, setting: str, **kwargs: object) -> None:
    """A reconfigured cache (tests, live settings changes) is tried at once, not after the old outage's pause."""
    global _outage_until
    if setting == "CACHES":
        _outage_until = 0.0


# --- JSON encoding of cached values ---------------------------------------------------------------------


def _encode(value: object) -> object:
    if isinstance(value, tuple):
        return [_encode(item) for item in value]
    if dataclasses.is_dataclass(value):
        return {field.name: _plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
    return value


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()  # full precision, unlike DjangoJSONEncoder's milliseconds
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def _decode(spec: CacheSpec, data: Any) -> Any:
    if data is None:
        return None
    if spec.many:
        return tuple(_build(spec.kind, item) for item in data)
    return _build(spec.kind, data)


def _build(kind: type, data: Any) -> Any:
    if not dataclasses.is_dataclass(kind):
        return kind(data)
    return kind(**{name: _revive(tp, data[name]) for name, tp in _field_types(kind).items()})


@memoize
def _field_types(kind: type) -> dict[str, Any]:
    return typing.get_type_hints(kind)


def _revive(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    args = [arg for arg in typing.get_args(tp) if arg is not type(None)]
    if typing.get_origin(tp) is not tuple and args:  # `X | None`
        tp = args[0]
    if tp is datetime:
        return datetime.fromisoformat(value)
    if tp is UUID:
        return UUID(value)
    if typing.get_origin(tp) is tuple:
        return tuple(value)
    return value
