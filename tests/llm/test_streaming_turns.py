"""Streamed turns: deltas then the stored Turn; a reply outlives its consumer; a cancelled turn keeps what it said."""

import asyncio
import contextlib
import json
import threading
from dataclasses import replace
from uuid import uuid4

import pytest

from llm import services, store
from llm.data import Delta, Turn
from llm.errors import IdempotencyConflict, LLMTimeout, LLMUnavailable, MessageTooLong, StoreUnavailable
from tests.fakes.openai import Fault, Reply
from tests.llm.contexts import alice
from tests.llm.support import chat_bodies, raw_redis, reply, run_async, snapshot, text_with_tokens

ANSWER = "Try the tteokbokki place on the corner, then a quiet jazz bar nearby for the evening."


@pytest.fixture
def session_id():
    return uuid4()


def _stream(session_id, text: str = "Dinner ideas?", **options):
    return services.turn_reply_stream(session_id=session_id, text=text, context=alice(), **options)


async def _drain(stream) -> list:
    return [item async for item in stream]


async def _drain_into(stream, items: list) -> None:
    """Keep what came before the stream failed."""
    async for item in stream:
        items.append(item)


def _turn_task(session_id) -> asyncio.Task:
    return next(task for task in asyncio.all_tasks() if task.get_name() == f"llm-turn:{session_id}")


def _stored(session_id) -> list[tuple[int, str, str, bool]]:
    return [(m.seq, m.role, m.content, m.interrupted) for m in services.messages_list(session_id=session_id)]


def test_deltas_come_as_the_model_writes_then_the_stored_turn(fake_openai, session_id, settings):
    settings.SSE_COALESCE_MS = 0  # one delta per chunk (coalescing: test_stream_coalescing.py)
    fake_openai.script(reply(ANSWER, mood="excited"))
    items = run_async(_drain(_stream(session_id)))
    deltas, turn = items[:-1], items[-1]
    assert len(deltas) > 3
    assert all(isinstance(d, Delta) for d in deltas)
    assert isinstance(turn, Turn)
    assert turn.provider == "openai"
    assert "".join(d.text for d in deltas) == turn.assistant_message.content == ANSWER
    assert turn.mood.mood == "excited"
    assert _stored(session_id) == [(1, "user", "Dinner ideas?", False), (2, "assistant", ANSWER, False)]
    assert chat_bodies(fake_openai)[-1]["stream"] is True


def test_the_offline_provider_streams_too(session_id):
    items = run_async(_drain(_stream(session_id)))
    assert isinstance(items[0], Delta)
    assert items[-1].provider == "offline"
    assert "".join(d.text for d in items[:-1]) == items[-1].assistant_message.content


def test_a_consumer_that_leaves_after_the_first_delta_still_gets_the_whole_reply_stored(fake_openai, session_id):
    fake_openai.script(reply(ANSWER, chunk_delay=0.02))

    async def leave_early() -> None:
        stream = _stream(session_id)
        assert isinstance(await anext(stream), Delta)
        await stream.aclose()  # the client disconnected
        await asyncio.wait_for(_turn_task(session_id), timeout=5)

    run_async(leave_early())
    assert _stored(session_id)[-1] == (2, "assistant", ANSWER, False)
    assert raw_redis().zcard(store.session_keys(session_id).lock.queue) == 0


def test_a_cancelled_consumer_does_not_cancel_the_turn(fake_openai, session_id):
    fake_openai.script(reply(ANSWER, chunk_delay=0.02))

    async def cancel_consumer() -> None:
        first = asyncio.Event()

        async def consume() -> None:
            async for _ in _stream(session_id):
                first.set()

        consumer = asyncio.create_task(consume())
        await first.wait()
        consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consumer
        await asyncio.wait_for(_turn_task(session_id), timeout=5)

    run_async(cancel_consumer())
    assert _stored(session_id)[-1] == (2, "assistant", ANSWER, False)


def test_a_cancelled_turn_stores_what_it_generated_marked_interrupted(fake_openai, session_id):
    fake_openai.script(reply(ANSWER, chunk_delay=0.05))
    seen: list[str] = []

    async def shut_down() -> None:
        stream = _stream(session_id)
        seen.append((await anext(stream)).text)
        task = _turn_task(session_id)
        task.cancel()  # e.g. the server stopping
        with contextlib.suppress(asyncio.CancelledError):
            await task
        rest: list = []
        with pytest.raises(LLMUnavailable):
            await _drain_into(stream, rest)
        seen.extend(item.text for item in rest)

    run_async(shut_down())
    stored = _stored(session_id)
    assert stored[0][:2] == (1, "user")
    seq, role, content, interrupted = stored[1]
    assert (seq, role, interrupted) == (2, "assistant", True)
    assert content.startswith("".join(seen))
    assert ANSWER.startswith(content)
    assert content != ANSWER
    assert raw_redis().zcard(store.session_keys(session_id).lock.queue) == 0
    assert services.turn_reply_again(session_id=session_id, context=alice()).assistant_message.seq == 2


def test_a_stream_broken_by_the_model_keeps_the_user_message_and_raises_a_typed_error(
    settings, fake_openai, session_id
):
    settings.LLM_MAX_RETRIES = 0
    fake_openai.script(Fault.cut_stream(after_chunks=6, content='{"mood": null, "reply": "Half of an answer that'))

    async def consume() -> list:
        items: list = []
        with pytest.raises(LLMUnavailable):
            await _drain_into(_stream(session_id), items)
        return items

    assert run_async(consume())  # some deltas came before the break
    assert _stored(session_id) == [(1, "user", "Dinner ideas?", False)]
    assert raw_redis().zcard(store.session_keys(session_id).lock.queue) == 0


def test_a_message_too_long_is_refused_when_the_stream_is_asked_for(settings, fake_openai, session_id):
    settings.LLM_CONTEXT_BUDGET = 800
    settings.LLM_REPLY_RESERVE = 200
    before = snapshot()
    with pytest.raises(MessageTooLong):
        _stream(session_id, text=text_with_tokens(800, model="gpt-4o-mini"))
    assert snapshot() == before
    assert fake_openai.requests == []


def test_an_idempotent_retry_streams_only_the_first_turn(fake_openai, session_id):
    first = services.turn_reply(session_id=session_id, text="Dinner ideas?", context=alice(), idempotency_key="k")
    items = run_async(_drain(_stream(session_id, idempotency_key="k")))
    assert len(items) == 1
    assert items[0].replayed
    assert items[0].assistant_message == first.assistant_message
    assert len(chat_bodies(fake_openai)) == 1


def test_a_streamed_retry_of_a_failed_turn_with_its_key_answers_the_stored_message_once(
    settings, fake_openai, session_id
):
    settings.LLM_MAX_RETRIES = 0
    fake_openai.script(Fault.status(500), reply(ANSWER))
    with pytest.raises(LLMUnavailable):
        run_async(_drain(_stream(session_id, idempotency_key="k")))
    assert _stored(session_id) == [(1, "user", "Dinner ideas?", False)]
    with pytest.raises(IdempotencyConflict):
        run_async(_drain(_stream(session_id, text="Lunch ideas?", idempotency_key="k")))
    assert _stored(session_id) == [(1, "user", "Dinner ideas?", False)]

    items = run_async(_drain(_stream(session_id, idempotency_key="k")))
    turn = items[-1]
    assert "".join(d.text for d in items[:-1]) == turn.assistant_message.content == ANSWER
    assert (turn.user_message.seq, turn.assistant_message.seq, turn.replayed) == (1, 2, False)
    assert [m["content"] for m in chat_bodies(fake_openai)[-1]["messages"][1:]] == ["Dinner ideas?"]
    assert _stored(session_id) == [(1, "user", "Dinner ideas?", False), (2, "assistant", ANSWER, False)]

    requests = len(fake_openai.requests)
    assert run_async(_drain(_stream(session_id, idempotency_key="k"))) == [replace(turn, replayed=True)]
    assert len(fake_openai.requests) == requests


def test_a_retry_with_its_key_replaces_the_reply_an_interrupted_turn_stored(fake_openai, session_id):
    fake_openai.script(reply(ANSWER, chunk_delay=0.05), reply("The whole answer."))

    async def shut_down() -> None:
        stream = _stream(session_id, idempotency_key="k")
        await anext(stream)
        _turn_task(session_id).cancel()
        with pytest.raises(LLMUnavailable):
            await _drain(stream)

    run_async(shut_down())
    seq, role, _, interrupted = _stored(session_id)[1]
    assert (seq, role, interrupted) == (2, "assistant", True)
    turn = run_async(_drain(_stream(session_id, idempotency_key="k")))[-1]
    assert (turn.user_message.seq, turn.assistant_message.seq, turn.replayed) == (1, 2, False)
    assert _stored(session_id) == [
        (1, "user", "Dinner ideas?", False),
        (2, "assistant", "The whole answer.", False),
    ]


def test_with_redis_down_the_stream_fails_closed_before_any_model_call(settings, fake_openai, closed_port, session_id):
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port}/0"
    with pytest.raises(StoreUnavailable):
        run_async(_drain(_stream(session_id)))
    assert fake_openai.requests == []


def _slow_reply(*, pieces: int, chunk_delay: float):
    """ANSWER as a structured reply streamed in `pieces` chunks, `chunk_delay` apart."""
    content = json.dumps({"mood": None, "reply": ANSWER})
    size = -(-len(content) // pieces)
    return Reply(
        content=content, chunks=[content[i : i + size] for i in range(0, len(content), size)], chunk_delay=chunk_delay
    )


def test_a_streamed_reply_slower_than_the_lock_ttl_is_shown_and_stored_whole(settings, fake_openai, session_id):
    # Before the lease was renewed, every delta reached the customer and then the reply was refused: the lock had
    # expired under it (TurnInProgress), so what they were shown was stored nowhere.
    settings.TURN_LOCK_TTL_SECONDS = 1
    settings.TURN_DEADLINE_SECONDS = 5
    fake_openai.script(_slow_reply(pieces=6, chunk_delay=0.3))
    items = run_async(_drain(_stream(session_id)))
    turn = items[-1]
    assert isinstance(turn, Turn)
    assert "".join(d.text for d in items[:-1]) == turn.assistant_message.content == ANSWER
    assert _stored(session_id) == [(1, "user", "Dinner ideas?", False), (2, "assistant", ANSWER, False)]


def test_a_streamed_turn_slower_than_its_lock_ttl_keeps_the_lock_from_the_turn_behind_it(
    settings, fake_openai, session_id
):
    # Without renewal, the turn behind it drops the streamed turn's expired ticket and goes first; the streamed
    # reply, shown whole, is then refused (TurnInProgress) and stored nowhere.
    settings.TURN_LOCK_TTL_SECONDS = 1
    settings.TURN_DEADLINE_SECONDS = 5
    fake_openai.script(_slow_reply(pieces=6, chunk_delay=0.3), reply("after it"))
    behind = {}

    def next_turn():
        fake_openai.wait_for_requests(1)
        behind["turn"] = services.turn_reply(session_id=session_id, text="next", context=alice())

    thread = threading.Thread(target=next_turn)
    thread.start()
    items = run_async(_drain(_stream(session_id)))
    thread.join(timeout=5)
    assert items[-1].assistant_message.content == ANSWER
    assert behind["turn"].assistant_message.content == "after it"
    assert _stored(session_id) == [
        (1, "user", "Dinner ideas?", False),
        (2, "assistant", ANSWER, False),
        (3, "user", "next", False),
        (4, "assistant", "after it", False),
    ]


def test_a_streamed_turn_past_its_deadline_is_a_timeout_and_stores_no_reply(settings, fake_openai, session_id):
    settings.TURN_DEADLINE_SECONDS = 0.5
    fake_openai.script(_slow_reply(pieces=6, chunk_delay=0.3))
    items: list = []
    with pytest.raises(LLMTimeout):
        run_async(_drain_into(_stream(session_id), items))
    assert not any(isinstance(item, Turn) for item in items)
    assert _stored(session_id) == [(1, "user", "Dinner ideas?", False)]
    # The lock was given back at once: the next turn is not kept waiting.
    fake_openai.script(reply("Next."))
    assert run_async(_drain(_stream(session_id, "And now?")))[-1].assistant_message.content == "Next."
