"""The Redis store: key names, stored JSON, and the Lua scripts (atomic, fenced by the turn lock, retry-safe)."""

import json
import time
from dataclasses import replace
from datetime import UTC, datetime
from uuid import uuid4

import pytest
import redis
from redis.crc import key_slot

from llm import flow, lock, store
from llm.conf import get_settings
from llm.data import Card, CardItem, Checks, Message, Mood, Turn, Usage
from llm.errors import IdempotencyConflict, StoreUnavailable, TurnInProgress
from llm.redis import sync_client
from llm.store import RollingSummary
from tests.llm.support import raw_redis, snapshot


def _message(role: str, content: str, *, tokens: int = 10, seq: int = 0) -> Message:
    return Message(id=uuid4().hex, seq=seq, role=role, content=content, tokens=tokens, created_at=datetime.now(UTC))


def _lease(keys: store.SessionKeys) -> lock.Lease:
    return flow.run(sync_client(), lock.acquire(keys.lock, hold_seconds=30, wait_seconds=1))


def _begin(keys, cfg, lease, user: Message | None, *, budget: int = 10_000, idem=None) -> store.BeginResult | Turn:
    call = store.begin_call(keys, cfg, token=lease.token, user=user, tail_budget=budget, tail_limit=1000, idem=idem)
    return store.parse_begin(store.run(sync_client(), call))


def _finish_call(keys, cfg, lease, begun: store.BeginResult, text: str, *, idem=None, mood=None) -> store.Call:
    reply = _message("assistant", text, seq=begun.replaced_seq or begun.user_seq + 1)
    turn = Turn(begun.tail[-1], reply, None, Usage(1, 1, "server"), "offline")
    return store.finish_call(
        keys, cfg, token=lease.token, turn=turn, replace=bool(begun.replaced_seq), inferred_mood=mood, idem=idem
    )


def _exchange(keys, cfg, user_text: str, reply_text: str, *, tokens: int = 10) -> None:
    lease = _lease(keys)
    begun = _begin(keys, cfg, lease, _message("user", user_text, tokens=tokens))
    store.parse_finish(store.run(sync_client(), _finish_call(keys, cfg, lease, begun, reply_text)))


@pytest.fixture
def keys():
    return store.session_keys(uuid4())


@pytest.fixture
def cfg():
    return get_settings()


def test_every_key_of_a_session_carries_its_hash_tag_and_lives_in_one_cluster_slot(keys):
    session = keys.prefix.removeprefix("chat:")
    assert keys.messages == f"chat:{session}:messages"
    assert keys.mood == f"chat:{session}:mood"
    assert keys.summary == f"chat:{session}:summary"
    assert keys.lock.queue == f"chat:{session}:lock"
    all_keys = [keys.messages, keys.mood, keys.summary, keys.idempotency, *keys.lock.all, keys.record("d" * 64)]
    assert len({key_slot(key.encode()) for key in all_keys}) == 1


def test_a_message_is_stored_as_compact_utf8_json_with_its_seq_and_token_count_first(keys, cfg):
    _exchange(keys, cfg, "매운 거 먹고 싶어요", "Tteokbokki?", tokens=17)
    raw = raw_redis().lrange(keys.messages, 0, -1)
    assert raw[0].startswith('{"seq":1,"tokens":17,"id":"')
    assert "매운 거 먹고 싶어요" in raw[0]  # ensure_ascii=False: no \u escapes
    assert ", " not in raw[0]
    assert '": ' not in raw[0]
    assert [json.loads(item)["seq"] for item in raw] == [1, 2]
    assert store.decode_message(raw[0]).content == "매운 거 먹고 싶어요"


def test_a_card_is_stored_by_its_fields_in_order_and_a_card_stored_before_caps_and_venues_still_reads():
    card = Card(
        id=str(uuid4()),
        item=CardItem(
            external_id="mapo-jazz-club",
            kind="place",
            name="Jazz",
            area="Mapo",
            price=None,
            currency="KRW",
            tags=("jazz",),
        ),
        reason="live jazz",
        checks=Checks(allergens=("peanut",), diets=(), budget_remaining=5000, unverified=(), max_price=9000),
    )
    stored = json.loads(store.encode_message(replace(_message("assistant", "Try it."), recommendations=(card,))))
    [fields] = stored["recommendations"]
    assert list(fields) == ["id", "item", "reason", "checks"]
    assert list(fields["item"]) == ["external_id", "kind", "name", "area", "price", "currency", "tags"]
    assert fields["checks"] == {
        "allergens": ["peanut"],
        "diets": [],
        "budget_remaining": 5000,
        "unverified": [],
        "max_price": 9000,
        "dishes": [],
    }
    assert store.card_of(fields) == card
    del fields["checks"]["max_price"], fields["checks"]["dishes"]  # as cards were stored before caps and venues
    assert store.card_of(fields) == replace(card, checks=replace(card.checks, max_price=None))


def test_begin_numbers_the_user_message_and_reads_the_newest_messages_whose_counts_fit(keys, cfg):
    for i in range(40):
        _exchange(keys, cfg, f"question {i}", f"answer {i}", tokens=10)
    lease = _lease(keys)
    begun = _begin(keys, cfg, lease, _message("user", "latest", tokens=25), budget=100)
    assert begun.user_seq == 81
    assert begun.stored == 81
    # 25 + 7 * 10 = 95 fits in 100; an eighth older message would not.
    assert [m.seq for m in begun.tail] == list(range(74, 82))
    assert begun.tail[-1].content == "latest"


def test_the_newest_message_is_read_even_when_it_alone_exceeds_the_budget(keys, cfg):
    _exchange(keys, cfg, "hi", "hello")
    begun = _begin(keys, cfg, _lease(keys), _message("user", "long", tokens=500), budget=100)
    assert [m.content for m in begun.tail] == ["long"]


def test_a_retried_begin_or_finish_does_its_work_once(keys, cfg):
    lease = _lease(keys)
    user = _message("user", "once")
    begun = _begin(keys, cfg, lease, user)
    assert _begin(keys, cfg, lease, user).user_seq == begun.user_seq == 1
    finish = _finish_call(keys, cfg, lease, begun, "reply once")
    store.parse_finish(store.run(sync_client(), finish))
    store.parse_finish(store.run(sync_client(), finish))  # the lock is gone, but the reply is recognised
    assert [json.loads(m)["seq"] for m in raw_redis().lrange(keys.messages, 0, -1)] == [1, 2]


def test_scripts_refuse_a_token_that_does_not_hold_the_lock_and_write_nothing(keys, cfg):
    _exchange(keys, cfg, "hi", "hello")
    holder = _lease(keys)
    begun = _begin(keys, cfg, holder, _message("user", "mine"))
    stranger = lock.Lease(keys.lock, uuid4().hex)
    before = snapshot()
    with pytest.raises(TurnInProgress):
        _begin(keys, cfg, stranger, _message("user", "intruder"))
    with pytest.raises(TurnInProgress):
        store.parse_finish(store.run(sync_client(), _finish_call(keys, cfg, stranger, begun, "intruder")))
    summary = store.summary_call(keys, cfg, token=stranger.token, summary=RollingSummary("x", 2))
    with pytest.raises(TurnInProgress):
        store.parse_summary(store.run(sync_client(), summary))
    assert snapshot() == before


def test_messages_beyond_the_cap_leave_only_once_the_summary_covers_them(keys, cfg):
    cfg = replace(cfg, max_stored_messages=10)
    for i in range(6):
        _exchange(keys, cfg, f"q{i}", f"a{i}")
    assert raw_redis().llen(keys.messages) == 12  # nothing folded yet: nothing may leave
    lease = _lease(keys)
    store.parse_summary(
        store.run(sync_client(), store.summary_call(keys, cfg, token=lease.token, summary=RollingSummary("s", 4)))
    )
    stored = [json.loads(m)["seq"] for m in raw_redis().lrange(keys.messages, 0, -1)]
    assert stored == list(range(3, 13))  # two over the cap, both folded
    assert raw_redis().hgetall(keys.summary) == {"text": "s", "through": "4"}


def test_a_summary_never_moves_back(keys, cfg):
    lease = _lease(keys)
    for through, text in ((6, "newer"), (4, "older")):
        call = store.summary_call(keys, cfg, token=lease.token, summary=RollingSummary(text, through))
        store.parse_summary(store.run(sync_client(), call))
    assert raw_redis().hgetall(keys.summary) == {"text": "newer", "through": "6"}


def test_an_idempotency_record_replays_the_same_request_and_refuses_another(keys, cfg):
    idem = store.idempotency("key-1", kind="send", text="hi")
    lease = _lease(keys)
    begun = _begin(keys, cfg, lease, _message("user", "hi"), idem=idem)
    mood = Mood("happy", "inferred", datetime.now(UTC))
    stored_mood, _ = store.parse_finish(
        store.run(sync_client(), _finish_call(keys, cfg, lease, begun, "hello", idem=idem, mood=mood))
    )
    assert stored_mood == mood
    replayed = _begin(keys, cfg, _lease(keys), _message("user", "hi"), idem=idem)
    assert isinstance(replayed, Turn)
    assert (replayed.user_message.content, replayed.assistant_message.content, replayed.mood) == ("hi", "hello", mood)
    with pytest.raises(IdempotencyConflict):
        _begin(
            keys, cfg, _lease(keys), _message("user", "other"), idem=store.idempotency("key-1", kind="send", text="x")
        )
    assert raw_redis().zcard(keys.lock.queue) == 0  # both released the lock
    assert raw_redis().llen(keys.messages) == 2


def test_a_keyed_begin_leaves_a_pending_record_that_a_retry_answers_and_finish_completes(keys, cfg):
    idem = store.idempotency("key-1", kind="send", text="hi")
    record = keys.record(idem.digest)
    failed = _lease(keys)
    first = _begin(keys, cfg, failed, _message("user", "hi"), idem=idem)
    assert raw_redis().hgetall(record) == {"fingerprint": idem.fingerprint, "user_seq": "1"}
    assert cfg.chat_ttl_seconds - 5 < raw_redis().ttl(record) <= cfg.chat_ttl_seconds
    assert raw_redis().zscore(keys.idempotency, idem.digest) is not None
    flow.run(sync_client(), lock.release(failed))  # the model call failed

    lease = _lease(keys)
    retried = _begin(keys, cfg, lease, _message("user", "hi"), idem=idem)
    assert (retried.user_seq, retried.replaced_seq, retried.tail) == (1, 0, first.tail)
    assert raw_redis().llen(keys.messages) == 1
    store.parse_finish(store.run(sync_client(), _finish_call(keys, cfg, lease, retried, "hello", idem=idem)))
    assert set(raw_redis().hgetall(record)) == {"fingerprint", "turn"}
    assert isinstance(_begin(keys, cfg, _lease(keys), _message("user", "hi"), idem=idem), Turn)


@pytest.mark.processes
def test_a_script_runs_again_after_redis_forgot_it(keys, private_redis, settings):
    # SCRIPT FLUSH empties the script cache of the whole server, every database of it: on the shared Redis it would
    # pull the scripts from under every other process using them (other test runs, the benchmarks), so a server of
    # this test's own forgets them.
    settings.REDIS_URL = private_redis.url()
    cfg = get_settings()
    own = redis.Redis.from_url(private_redis.url())
    own.script_flush()
    _exchange(keys, cfg, "hi", "hello")
    own.script_flush()
    lease = _lease(keys)
    begun = _begin(keys, cfg, lease, _message("user", "again"))
    own.script_flush()
    store.parse_finish(store.run_all(sync_client(), [_finish_call(keys, cfg, lease, begun, "yes")])[0])
    assert own.llen(keys.messages) == 4


def test_erase_deletes_every_key_of_the_session_and_no_other(keys, cfg):
    other = store.session_keys(uuid4())
    _exchange(other, cfg, "keep", "me")
    idem = store.idempotency("k", kind="send", text="hi")
    lease = _lease(keys)
    begun = _begin(keys, cfg, lease, _message("user", "hi"), idem=idem)
    store.run(sync_client(), _finish_call(keys, cfg, lease, begun, "hello", idem=idem))
    pending = store.idempotency("pending", kind="send", text="unanswered")
    _begin(keys, cfg, _lease(keys), _message("user", "unanswered"), idem=pending)  # a lock and a pending record
    store.run(sync_client(), store.erase_call(keys, cfg))
    assert list(raw_redis().scan_iter(match=f"{keys.prefix}:*")) == [keys.lock.closed]  # the marker, no content
    assert raw_redis().llen(other.messages) == 2


def test_a_redis_failure_leaves_as_store_unavailable_within_a_second(settings, closed_port, keys):
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port}/0"
    client = sync_client()
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as caught:
        store.run(client, store.conversation_call(keys))
    assert isinstance(caught.value.__cause__, redis.ConnectionError)
    with pytest.raises(StoreUnavailable):
        store.run_all(client, [store.mood_read_call(keys)])
    assert time.monotonic() - started < 1  # one retry, no backoff: an outage fails fast (and closed)
