"""The read-through cache: warm reads cost no query, one loader per cold key, absent rows, invalidation, outages."""

import copy
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from uuid import uuid4

import pytest
import redis
from django.conf import settings as django_settings
from django.core.cache import cache as django_cache
from django.db import connection, transaction
from django_redis import get_redis_connection

from customers import cache, selectors, services
from customers.cache import CacheSpec, get_or_load
from customers.data import PastSessionSummary, SessionInfo
from customers.profiles import customer_update

pytestmark = pytest.mark.timeout(30)

INFO = CacheSpec("test-session-info:v1", SessionInfo)
SUMMARIES = CacheSpec("test-summaries:v1", PastSessionSummary, many=True)
NUMBER = CacheSpec("test-number:v1", int)


class Loader:
    """A loader that counts its calls (thread-safe) and can be held back until released."""

    def __init__(self, value: object, *, hold: threading.Event | None = None) -> None:
        self.value, self.hold, self.calls = value, hold, 0
        self.started = threading.Event()
        self._lock = threading.Lock()

    def __call__(self) -> object:
        with self._lock:
            self.calls += 1
        self.started.set()
        if self.hold is not None:
            assert self.hold.wait(5)
        return self.value


@contextmanager
def lease_asks(readers: int) -> Iterator[threading.Event]:
    """An event set once `readers` readers have each asked for a fill lease, that is, each has missed the cache.

    Every reader asks with a token of its own (`SET <key>:lease <token> NX`); MONITOR on the test Redis sees the
    distinct tokens, with no hook in the code under test.
    """
    asked = threading.Event()
    done = threading.Event()
    tokens: set[str] = set()
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    monitor = client.monitor()
    monitor.__enter__()  # MONITOR is on before the readers start

    def watch() -> None:
        while not done.is_set():
            try:
                words = monitor.next_command()["command"].split()
            except (redis.ConnectionError, ValueError):
                return
            if len(words) > 3 and words[0].upper() == "SET" and words[1].endswith(":lease") and "NX" in words:
                tokens.add(words[2])
                if len(tokens) >= readers:
                    asked.set()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield asked
    finally:
        done.set()
        client.ping()  # a command of its own for the watcher to read, so that it sees `done`
        watcher.join(5)
        monitor.__exit__(None, None, None)
        client.close()


def _ttl_ms(spec: CacheSpec, key: object) -> int:
    return get_redis_connection("default").pttl(django_cache.make_key(spec.key(key)))


def _cache_at(settings, port: int, **options: object) -> None:
    caches = copy.deepcopy(settings.CACHES)
    caches["default"]["LOCATION"] = f"redis://127.0.0.1:{port}/15"
    caches["default"]["OPTIONS"].update(options)
    settings.CACHES = caches


def _cache_warnings(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "customers.cache" and r.levelno == logging.WARNING]


@pytest.fixture
def silent_port():
    """A loopback port that accepts connections but never answers: a hung Redis."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


def _session_info() -> SessionInfo:
    now = datetime(2026, 5, 1, 9, 30, 15, 123456, tzinfo=UTC)
    return SessionInfo(
        session_id=uuid4(),
        customer_id=7,
        status="open",
        title="점심 추천",
        created_at=now,
        last_activity_at=now,
        ended_at=None,
        message_count=2,
        prompt_tokens=30,
        completion_tokens=12,
        final_mood="",
        summary="",
    )


# --- values and TTLs ----------------------------------------------------------------------------------------


def test_a_cached_dataclass_comes_back_equal_with_full_precision_datetimes_and_uuids():
    info = _session_info()
    assert get_or_load(INFO, 1, Loader(info)) == info
    second = Loader(None)
    assert get_or_load(INFO, 1, second) == info
    assert second.calls == 0


def test_a_tuple_of_dataclasses_and_a_number_round_trip():
    summaries = (
        PastSessionSummary(session_id=uuid4(), title="a", ended_at=datetime(2026, 1, 1, tzinfo=UTC), summary="s1"),
        PastSessionSummary(session_id=uuid4(), title="b", ended_at=datetime(2026, 1, 2, tzinfo=UTC), summary="s2"),
    )
    get_or_load(SUMMARIES, 1, Loader(summaries))
    assert get_or_load(SUMMARIES, 1, Loader(())) == summaries
    get_or_load(NUMBER, 1, Loader(42))
    assert get_or_load(NUMBER, 1, Loader(0)) == 42


def test_values_live_for_the_cache_ttl_and_absent_rows_for_the_missing_ttl(settings):
    settings.CUSTOMER_CACHE_TTL = 600
    settings.CUSTOMER_CACHE_MISSING_TTL = 7
    get_or_load(NUMBER, "present", Loader(1))
    absent = Loader(None)
    assert get_or_load(NUMBER, "absent", absent) is None
    assert get_or_load(NUMBER, "absent", absent) is None
    assert absent.calls == 1
    assert 590_000 < _ttl_ms(NUMBER, "present") <= 600_000
    assert 0 < _ttl_ms(NUMBER, "absent") <= 7_000


def test_a_failing_loader_caches_nothing_and_frees_its_lease_at_once(settings):
    settings.CUSTOMER_CACHE_FILL_TIMEOUT = 5

    def broken() -> int:
        raise LookupError("boom")

    with pytest.raises(LookupError):
        get_or_load(NUMBER, 1, broken)
    started = time.monotonic()
    assert get_or_load(NUMBER, 1, Loader(3)) == 3
    assert time.monotonic() - started < 1, "the next reader waited for a lease nobody held"


# --- stampedes ------------------------------------------------------------------------------------------------


def test_concurrent_misses_in_threads_run_one_loader_and_all_get_its_value():
    release = threading.Event()
    loader = Loader(99, hold=release)
    barrier = threading.Barrier(12)
    results = []

    def read() -> None:
        barrier.wait()
        results.append(get_or_load(NUMBER, "hot", loader))

    with lease_asks(12) as all_missed:
        threads = [threading.Thread(target=read) for _ in range(12)]
        for thread in threads:
            thread.start()
        assert loader.started.wait(5)
        assert all_missed.wait(5), "not every reader missed the cache while the first one loaded"
    release.set()
    for thread in threads:
        thread.join(5)
    assert loader.calls == 1
    assert results == [99] * 12


def test_a_stuck_loader_holds_others_back_no_longer_than_the_fill_timeout(settings):
    settings.CUSTOMER_CACHE_FILL_TIMEOUT = 0.3
    release = threading.Event()
    stuck = Loader(1, hold=release)
    first = threading.Thread(target=get_or_load, args=(NUMBER, "slow", stuck))
    first.start()
    try:
        assert stuck.started.wait(5)
        started = time.monotonic()
        assert get_or_load(NUMBER, "slow", Loader(2)) == 2
        assert time.monotonic() - started < 1.0
    finally:
        release.set()
        first.join(5)
    # The stuck loader lost its lease to the second one: its late, older result was not stored over the newer one.
    assert get_or_load(NUMBER, "slow", Loader(3)) == 2


@pytest.mark.django_db(transaction=True)
def test_a_cold_customer_read_by_many_threads_costs_one_query(alice):
    queries, names = [], []
    barrier = threading.Barrier(8)

    def count(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    def read() -> None:
        try:
            barrier.wait()
            with connection.execute_wrapper(count):
                names.append(services.customer_profile_get(customer_id=alice.customer_id).display_name)
        finally:
            connection.close()

    threads = [threading.Thread(target=read) for _ in range(8)]
    # The table lock holds the first reader's query back until all the others have missed too.
    with lease_asks(8) as all_missed, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("LOCK TABLE customers_customer IN ACCESS EXCLUSIVE MODE")
        for thread in threads:
            thread.start()
        assert all_missed.wait(5), "not every reader missed the cache while the first one's query waited"
    for thread in threads:
        thread.join(5)
    assert names == ["Alice Kim"] * 8
    assert len(queries) == 1


# --- invalidation ------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_invalidation_during_a_load_keeps_the_loaded_value_out_of_the_cache():
    def load_then_writer_commits() -> int:
        cache.invalidate_on_commit([(NUMBER, "raced")])  # outside a transaction: runs at once
        return 1  # read before the writer's commit: stale

    assert get_or_load(NUMBER, "raced", load_then_writer_commits) == 1
    fresh = Loader(2)
    assert get_or_load(NUMBER, "raced", fresh) == 2
    assert fresh.calls == 1


@pytest.mark.django_db(transaction=True)
def test_a_writer_committing_while_a_reader_loads_does_not_leave_the_old_row_cached(alice):
    def load_old_then_writer_commits():
        old = selectors.customer_profile(customer_id=alice.customer_id)
        customer_update(customer_id=alice.customer_id, display_name="Alice Kim-Lee")
        return old

    stale = get_or_load(cache.CUSTOMER, alice.customer_id, load_old_then_writer_commits)
    assert stale.display_name == "Alice Kim"
    assert services.customer_profile_get(customer_id=alice.customer_id).display_name == "Alice Kim-Lee"


@pytest.mark.django_db(transaction=True)
def test_a_committed_change_is_read_at_once_and_a_rolled_back_one_never(alice, django_assert_num_queries):
    assert services.customer_profile_get(customer_id=alice.customer_id).home_area == "Seoul, Mapo-gu"

    def update_then_fail() -> None:
        with transaction.atomic():
            customer_update(customer_id=alice.customer_id, home_area="Jeju")
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        update_then_fail()
    with django_assert_num_queries(0):
        assert services.customer_profile_get(customer_id=alice.customer_id).home_area == "Seoul, Mapo-gu"

    with transaction.atomic():
        customer_update(customer_id=alice.customer_id, home_area="Jeju")
        # Not yet committed: the cached entry stays until the commit.
        assert django_cache.get(cache.CUSTOMER.key(alice.customer_id)) is not None
    assert django_cache.get(cache.CUSTOMER.key(alice.customer_id)) is None
    assert services.customer_profile_get(customer_id=alice.customer_id).home_area == "Jeju"


@pytest.mark.django_db
def test_api_token_cache_keys_hold_a_digest_never_the_token(alice):
    services.api_user_get_by_token(key=alice.token)
    keys = [key.decode() for key in get_redis_connection("default").keys("*")]
    assert keys
    assert not [key for key in keys if alice.token in key]
    assert [key for key in keys if cache.token_digest(alice.token) in key]


# --- Redis outages --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_with_redis_down_reads_come_from_the_database_with_one_warning(
    alice, settings, closed_port, caplog, django_assert_num_queries
):
    _cache_at(settings, closed_port)
    caplog.set_level(logging.WARNING, logger="customers.cache")
    for _ in range(3):
        with django_assert_num_queries(1):
            assert services.customer_profile_get(customer_id=alice.customer_id).allergies == ("peanut",)
    assert services.api_user_get_by_token(key=alice.token).customer_id == alice.customer_id
    warnings = _cache_warnings(caplog)
    assert len(warnings) == 1
    assert warnings[0].error == "ConnectionError"


@pytest.mark.django_db
def test_with_redis_down_writes_still_succeed(alice, settings, closed_port, django_capture_on_commit_callbacks):
    _cache_at(settings, closed_port)
    with django_capture_on_commit_callbacks(execute=True):
        profile = customer_update(customer_id=alice.customer_id, home_area="Jeju")
    assert profile.home_area == "Jeju"
    assert services.customer_profile_get(customer_id=alice.customer_id).home_area == "Jeju"


@pytest.mark.django_db
def test_a_hung_redis_costs_one_socket_timeout_then_is_skipped(alice, settings, silent_port, caplog):
    _cache_at(settings, silent_port, SOCKET_TIMEOUT=0.2, SOCKET_CONNECT_TIMEOUT=0.2)
    caplog.set_level(logging.WARNING, logger="customers.cache")
    started = time.monotonic()
    assert services.customer_profile_get(customer_id=alice.customer_id).display_name == "Alice Kim"
    first = time.monotonic() - started
    started = time.monotonic()
    for _ in range(5):
        assert services.customer_profile_get(customer_id=alice.customer_id).display_name == "Alice Kim"
    rest = time.monotonic() - started
    assert 0.15 < first < 1.5
    assert rest < 0.5, "reads kept waiting on a Redis known to be down"  # 5 socket timeouts would be 1 s
    assert len(_cache_warnings(caplog)) == 1
    assert _cache_warnings(caplog)[0].error == "TimeoutError"
