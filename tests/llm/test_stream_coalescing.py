"""Coalesced deltas (SSE_COALESCE_MS, llm/streams.py): the first delta at once, then at most one per window, the same
text in fewer pieces; through a real streamed turn against the fake model server, and through the bridge itself."""

import asyncio
import time
from uuid import uuid4

from llm import services, streams
from llm.data import Delta, Turn
from tests.fakes.openai import Reply
from tests.llm.contexts import alice
from tests.llm.support import run_async

PIECES = [f"w{i} " for i in range(60)]  # 60 tiny chunks, 3 ms apart: about 180 ms of streaming


def _deltas(items: list) -> list[str]:
    return [item.text for item in items if isinstance(item, Delta)]


async def _drain(stream) -> list:
    return [item async for item in stream]


def test_a_fast_stream_of_tiny_chunks_gives_fewer_deltas_with_the_same_text(fake_openai, settings):
    settings.SSE_COALESCE_MS = 30
    fake_openai.script(Reply("".join(PIECES), chunks=PIECES, chunk_delay=0.003))
    items = run_async(_drain(services.turn_reply_stream(session_id=uuid4(), text="Dinner?", context=alice())))
    deltas, turn = _deltas(items), items[-1]
    assert isinstance(turn, Turn)
    assert "".join(deltas) == turn.assistant_message.content == "".join(PIECES)
    # About 180 ms in 30 ms windows: the first delta, then one per window (a loaded machine may stretch the stream).
    assert 2 <= len(deltas) <= len(PIECES) // 3


def test_without_a_window_every_chunk_is_a_delta(fake_openai, settings):
    settings.SSE_COALESCE_MS = 0
    fake_openai.script(Reply("".join(PIECES), chunks=PIECES, chunk_delay=0.003))
    items = run_async(_drain(services.turn_reply_stream(session_id=uuid4(), text="Dinner?", context=alice())))
    assert _deltas(items) == PIECES


def test_the_first_delta_is_not_held_back_and_the_rest_waits_for_the_window_or_the_end():
    window = 0.5

    async def produce(deliver) -> str:
        deliver(Delta("first "))
        await asyncio.sleep(0.05)
        deliver(Delta("second "))  # within the window of the first: held
        deliver(Delta("third"))
        await asyncio.sleep(0.05)
        return "the turn"  # ends before the window does: what it holds goes out before the turn

    async def consume() -> list[tuple[float, object]]:
        started = time.monotonic()
        return [
            (time.monotonic() - started, item)
            async for item in streams.TurnStream(produce, name="coalesce-test", coalesce_seconds=window)
        ]

    arrivals = run_async(consume())
    assert [item for _, item in arrivals] == [Delta("first "), Delta("second third"), "the turn"]
    first_at, held_at = arrivals[0][0], arrivals[1][0]
    assert first_at < 0.04  # not the 0.5 s window, nor the 0.05 s before the next delta
    assert 0.09 <= held_at < window  # released by the end of the turn, not by the window
