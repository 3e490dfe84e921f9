"""The runners of llm's flows: a step's failure is raised inside the flow, and a durable round trip is finished
before a cancellation is raised (a reply is stored whole, and the lock is never released under a write in flight)."""

import asyncio
from uuid import uuid4

import pytest

from llm import flow, store
from llm.errors import StoreUnavailable
from llm.redis import async_client, sync_client
from tests.llm.support import raw_redis, run_async


def _slow_write(key: str, *, durable: bool):
    # BLPOP on a key nobody fills keeps the round trip in flight for 0.3 s; the SET comes after it.
    calls = (store.Call(("BLPOP", f"{key}:never", 0.3)), store.Call(("SET", key, "done")))
    yield from store.round_trip(calls, durable=durable)
    return "finished"


def _cancelled_midway(key: str, *, durable: bool) -> str | None:
    async def scenario() -> str | None:
        task = asyncio.create_task(flow.arun(async_client(), _slow_write(key, durable=durable)))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return raw_redis().get(key)  # what Redis holds the moment the cancelled task is done

    return run_async(scenario())


def test_a_durable_round_trip_ends_before_its_cancelled_task_does():
    assert _cancelled_midway(f"test:{uuid4()}", durable=True) == "done"


def test_a_plain_round_trip_is_abandoned_at_once_when_its_task_is_cancelled():
    assert _cancelled_midway(f"test:{uuid4()}", durable=False) is None


def test_a_failed_step_is_raised_inside_the_flow_where_it_can_be_handled(settings, closed_port):
    def guarded():
        try:
            yield from store.round_trip((store.Call(("GET", "anything")),))
        except StoreUnavailable:
            return "handled"
        return "not reached"

    assert flow.run(sync_client(), _slow_write(f"test:{uuid4()}", durable=False)) == "finished"
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port}/0"
    assert flow.run(sync_client(), guarded()) == "handled"
