"""A turn's Redis round trips: the lock's first try carries BEGIN, for sent, regenerated and streamed turns alike;
a turn waiting in line has that BEGIN refused at no cost (nothing written), then begins in its place in the line."""

import threading
import time

from llm import flow, lock, services, store
from llm.redis import sync_client
from tests.llm.contexts import alice
from tests.llm.support import (
    acount_round_trips,
    alternating,
    count_round_trips,
    raw_redis,
    run_async,
    seqs_and_roles,
    snapshot,
)

LOCK_AND_BEGIN = ["MULTI", "LOCK_TRY", "BEGIN", "EXEC"]
FINISH = ["FINISH", "USAGE"]


def test_a_warm_turn_takes_three_round_trips_including_admission_and_the_lock(fake_openai, session_id):
    services.turn_admit(customer_id=alice().customer_id)  # warm: every script loaded
    services.turn_reply(session_id=session_id, text="Hi", context=alice())
    with count_round_trips() as trips:
        services.turn_admit(customer_id=alice().customer_id)
        services.turn_reply(session_id=session_id, text="And now?", context=alice(), idempotency_key="warm")
    assert trips.commands() == [["ADMIT"], LOCK_AND_BEGIN, FINISH]


def test_a_regenerate_takes_the_lock_and_begins_in_one_round_trip(session_id):
    services.turn_reply(session_id=session_id, text="Hi", context=alice())
    with count_round_trips() as trips:
        turn = services.turn_reply_again(session_id=session_id, context=alice(), expected_seq=2)
    assert trips.commands() == [LOCK_AND_BEGIN, FINISH]
    assert turn.assistant_message.seq == 2


def test_a_streamed_turn_takes_the_lock_and_begins_in_one_round_trip(session_id):
    def stream(text: str):
        return services.turn_reply_stream(session_id=session_id, text=text, context=alice())

    async def scenario():
        [_ async for _ in stream("Hi")]  # warm: scripts loaded
        async with acount_round_trips() as trips:
            items = [item async for item in stream("And now?")]
        return trips, items[-1]

    trips, turn = run_async(scenario())
    assert trips.commands() == [LOCK_AND_BEGIN, FINISH]
    assert turn.user_message.seq == 3


def _outside_the_lock(session_id) -> dict[str, object]:
    """Every key of the test database but the session's lock keys (which waiting turns poll), with its value."""
    keys = store.session_keys(session_id)
    return {key: value for key, value in snapshot().items() if key not in {*keys.lock.all, keys.lock.closed}}


def _ttls(session_id) -> dict[str, int]:
    return {key: raw_redis().pttl(key) for key in _outside_the_lock(session_id)}


def test_a_turn_waiting_in_line_writes_nothing_until_it_holds_the_lock_then_goes_in_order(settings, session_id):
    settings.CHAT_TTL_SECONDS = settings.MOOD_TTL_SECONDS = 3600
    services.turn_reply(session_id=session_id, text="First", context=alice(), idempotency_key="first")
    keys = store.session_keys(session_id)
    holder = flow.run(sync_client(), lock.acquire(keys.lock, hold_seconds=30, wait_seconds=1))
    lowered = 100_000  # ms: a BEGIN refreshing a TTL would put it back to an hour
    for key in _ttls(session_id):
        raw_redis().pexpire(key, lowered)
    before = _outside_the_lock(session_id)
    first = store.idempotency("first", kind="send", text="First")
    assert {keys.messages, keys.idempotency, keys.record(first.digest)} <= set(before)

    replayed: dict[str, bool] = {}

    def turn(text: str, key: str) -> None:
        replayed[key] = services.turn_reply(
            session_id=session_id, text=text, context=alice(), idempotency_key=key
        ).replayed

    # In line behind the holder: a new turn, a retry of the first (a replay once its turn comes), another new one.
    waiters = []
    for text, key in (("Second", "second"), ("First", "first"), ("Third", "third")):
        waiters.append(threading.Thread(target=turn, args=(text, key)))
        waiters[-1].start()
        deadline = time.monotonic() + 5
        while raw_redis().zcard(keys.lock.queue) < len(waiters) + 1:  # queued behind the ones before
            assert time.monotonic() < deadline
            time.sleep(0.005)
    time.sleep(0.2)  # each has polled the lock a few times
    assert _outside_the_lock(session_id) == before  # no message, no seq, no idempotency record written or touched
    assert all(ttl <= lowered for ttl in _ttls(session_id).values())  # no TTL refreshed
    flow.run(sync_client(), lock.release(holder))
    for waiter in waiters:
        waiter.join(timeout=10)
    assert replayed == {"second": False, "first": True, "third": False}
    assert seqs_and_roles(session_id) == alternating(6)
    assert [m.content for m in services.messages_list(session_id=session_id)][::2] == ["First", "Second", "Third"]
    assert raw_redis().zcard(keys.lock.queue) == 0


def test_after_redis_forgot_its_scripts_the_lock_and_begin_are_sent_again_together(session_id):
    services.turn_reply(session_id=session_id, text="Hi", context=alice())
    raw_redis().script_flush()
    with count_round_trips() as trips:
        services.turn_reply(session_id=session_id, text="And now?", context=alice())
    assert trips.commands()[:4] == [LOCK_AND_BEGIN, ["SCRIPT"], ["SCRIPT"], LOCK_AND_BEGIN]
    assert seqs_and_roles(session_id) == alternating(4)
