"""Redis that answers but refuses writes, under the real server: the app runs against a PrivateRedis of the test's
own, which the test puts in each state a production Redis can be in:

- read-only: a replica (during a failover, before promotion), which answers READONLY to every write;
- out of memory: `maxmemory` reached under `maxmemory-policy noeviction`, which answers OOM to every write that could
  grow memory;
- MISCONF: `stop-writes-on-bgsave-error yes` after a snapshot failed, which answers MISCONF to every write (and PING).

Each must degrade exactly as a refused connection does: the customer cache falls back to PostgreSQL, every
conversation write answers 503 `service_unavailable` (admission fails closed, so no turn reaches the model), nothing
answers 500, and when Redis takes writes again turns work again with nothing lost.
"""

import shutil
from collections.abc import Callable

import pytest
import redis

from tests.harness.logs import tail
from tests.harness.redis_server import PrivateRedis
from tests.reliability.fault_support import (
    Customer,
    assert_clean_log,
    assert_counts_match,
    problem,
    timed,
    wait_for,
)
from tests.reliability.rules import check_history, seen_turn

pytestmark = [pytest.mark.processes, pytest.mark.timeout(90)]

BOUND = 3.0


def enter_read_only(server: PrivateRedis, client: redis.Redis, closed_port: int) -> None:
    # A replica of a master that is not there (yet): it keeps its data, serves reads and refuses writes.
    client.replicaof(server.host, closed_port)


def leave_read_only(client: redis.Redis) -> None:
    client.replicaof("NO", "ONE")  # promoted


def enter_out_of_memory(server: PrivateRedis, client: redis.Redis, closed_port: int) -> None:
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", 1)  # bytes: already exceeded


def leave_out_of_memory(client: redis.Redis) -> None:
    client.config_set("maxmemory", 0)


def enter_misconf(server: PrivateRedis, client: redis.Redis, closed_port: int) -> None:
    client.config_set("save", "3600 1")
    client.config_set("stop-writes-on-bgsave-error", "yes")
    # The server's working directory goes away under it: the snapshot cannot be written and the save fails.
    shutil.rmtree(server.directory)
    client.bgsave()
    wait_for(lambda: client.info("persistence")["rdb_last_bgsave_status"] == "err", timeout=10)


def leave_misconf(client: redis.Redis) -> None:
    client.config_set("stop-writes-on-bgsave-error", "no")


# state -> (enter, leave, what a write then raises in redis-py, which strips the READONLY and OOM prefixes)
STATES: dict[str, tuple[Callable, Callable, type[redis.ResponseError], str]] = {
    "read-only replica": (enter_read_only, leave_read_only, redis.exceptions.ReadOnlyError, "read only replica"),
    "out of memory": (enter_out_of_memory, leave_out_of_memory, redis.exceptions.OutOfMemoryError, "maxmemory"),
    "misconf": (enter_misconf, leave_misconf, redis.ResponseError, "^MISCONF"),
}


@pytest.fixture
def direct(private_redis):
    with redis.Redis(host=private_redis.host, port=private_redis.port, socket_timeout=2) as client:
        yield client


@pytest.mark.parametrize("state", list(STATES))
def test_redis_refusing_writes_degrades_as_an_outage_does(
    app_server_factory, private_redis, direct, closed_port, alice, bob, fake_openai, state
):
    enter, leave, error, message = STATES[state]
    app = app_server_factory({"REDIS_URL": private_redis.url()}, workers=1, openai=fake_openai)
    client, other = Customer(app, alice), Customer(app, bob)
    session_id = client.open_session()
    first = client.send(session_id, "Before Redis refuses writes")
    assert first.status == 201, first.body

    enter(private_redis, direct, closed_port)
    with pytest.raises(error, match=message):  # the state is what it claims to be
        direct.set("probe", "x" * 100)
    try:
        # What needs only PostgreSQL answers: token auth (cached, and never cached: the cache cannot be filled),
        # profiles, the session list, a new session.
        for name, attempt, status in (
            ("cached token", client.me, 200),
            ("uncached token", other.me, 200),
            ("unknown token", lambda: app.get("/api/v1/me", headers={"Authorization": "Token " + "0" * 40}), 401),
            ("sessions", lambda: app.get("/api/v1/sessions", headers=client.headers), 200),
        ):
            response, seconds = timed(attempt)
            assert response.status == status, (name, response.body)
            assert seconds < BOUND, f"{name} took {seconds:.1f}s"
        assert other.open_session()

        # Every conversation write answers 503, within the bound, as when Redis is down.
        for name, attempt in {
            "send": lambda: client.send(session_id, "refused write canary"),
            "streamed send": lambda: client.send(session_id, "streamed refused write canary", stream=True),
            "regenerate": lambda: client.regenerate(session_id),
            "mood": lambda: client.set_mood(session_id, "calm"),
        }.items():
            response, seconds = timed(attempt)
            problem(response, 503, "service_unavailable")
            assert seconds < BOUND, f"{name} took {seconds:.1f}s"
        assert len(fake_openai.requests) == 1  # admission failed closed before any model call
        # Reads of the conversation may be served or refused (503), never a 500.
        for response in (client.messages(session_id), client.session(session_id)):
            if response.status != 200:
                problem(response, 503, "service_unavailable")
    finally:
        leave(direct)

    after = client.send_until_answered(session_id, "After Redis takes writes again", timeout=15)
    history = client.history(session_id)
    check_history(
        history,
        succeeded=[seen_turn(first.json()), seen_turn(after.json())],
        sent=["Before Redis refuses writes", "After Redis takes writes again"],
    )
    assert len(history) == 4, history  # nothing of the refused turns, and nothing lost
    assert_counts_match(session_id, messages=len(history), turns=[first.json(), after.json()])
    print(tail(app.log_text()))  # shown only when the test fails
    assert_clean_log(app, ["refused write canary", "Before Redis refuses writes", alice.token, bob.token])


def test_the_customer_cache_can_live_on_a_redis_of_its_own(
    app_server_factory, private_redis, tmp_path, alice, bob, fake_openai
):
    """CACHE_REDIS_URL puts the customer cache on another Redis (one that may evict); the conversation state stays on
    REDIS_URL. Losing the cache's Redis then costs database reads, never a conversation."""
    with PrivateRedis(directory=tmp_path / "cache-redis") as cache_redis:
        env = {"REDIS_URL": private_redis.url(), "CACHE_REDIS_URL": cache_redis.url(db=2)}
        app = app_server_factory(env, workers=1, openai=fake_openai)
        client = Customer(app, alice)
        session_id = client.open_session()
        first = client.send(session_id, "Where is my cache?")
        assert first.status == 201, first.body

        with (
            redis.Redis(host=private_redis.host, port=private_redis.port) as store,
            redis.Redis(host=cache_redis.host, port=cache_redis.port, db=2) as cache,
        ):
            store_keys, cache_keys = [k.decode() for k in store.scan_iter()], [k.decode() for k in cache.scan_iter()]
        assert any(key.startswith(f"chat:{{{session_id}}}:") for key in store_keys), store_keys
        assert not any(key.startswith("cb:") for key in store_keys), store_keys
        assert any(key.startswith("cb:") for key in cache_keys), cache_keys
        assert not any(key.startswith("chat:") or key.startswith("quota:") for key in cache_keys), cache_keys

        cache_redis.stop()
        assert Customer(app, bob).me().status == 200  # from the database
        second = client.send(session_id, "And now?")
        assert second.status == 201, second.body
        assert [m["seq"] for m in client.history(session_id)] == [1, 2, 3, 4]
    assert_clean_log(app, ["Where is my cache?", alice.token, bob.token])
