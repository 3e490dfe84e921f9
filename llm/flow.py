"""How llm's operations run, sans-IO (as h11 does it): a turn, the turn lock and every round trip are written once,
as generators (flows) that yield the steps they need and get each step's result back:

- `store.Send`: one Redis round trip (its results; a durable one is finished even under cancellation);
- `Sleep`: a pause (polling for the turn lock);
- `Ask`: one model call (its Completion; with `deltas`, the async runner forwards the reply as it is produced).

`run` performs the steps with redis-py's sync client and `Provider.complete`; `arun` with its asyncio client and
`Provider.astream`. A step that fails is raised inside the flow, where it happened, so a flow's `try` blocks see
failures as in plain code. Cancelled during a streamed `Ask`, `arun` raises `Interrupted` with the text produced so far
inside the flow, which may store it, and re-raises the cancellation once the flow is done.
"""

import asyncio
import contextlib
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
import redis.asyncio

from llm import store
from llm.data import Delta
from llm.errors import LLMBadResponse
from llm.providers import Completion, ModelRequest, Provider

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Sleep:
    seconds: float


@dataclass(frozen=True, slots=True)
class Ask:
    provider: Provider
    request: ModelRequest
    deltas: bool = False  # forward the reply's deltas as they come (async runner)


class Interrupted(BaseException):
    """Raised inside a flow whose streamed Ask was cancelled: `text` is what the model had produced."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


Step = store.Send | Sleep | Ask
Flow = Generator[Step, Any, T]


def run(client: redis.Redis, flow: Flow[T]) -> T:
    """Run a flow to its end on the sync client."""
    value: Any = None
    error: BaseException | None = None
    while True:
        step = _next(flow, value, error)
        if not isinstance(step, Step):
            return step.value
        try:
            value, error = _perform(client, step), None
        except BaseException as exc:
            value, error = None, exc


async def arun(client: redis.asyncio.Redis, flow: Flow[T], on_delta: Callable[[Delta], None] | None = None) -> T:
    """Run a flow to its end on the asyncio client, handing each delta of a streamed reply to `on_delta`."""
    value: Any = None
    error: BaseException | None = None
    cancelled: asyncio.CancelledError | None = None
    while True:
        try:
            step = _next(flow, value, error)
        except Interrupted:
            assert cancelled is not None
            raise cancelled from None
        if not isinstance(step, Step):
            if cancelled is not None:
                raise cancelled
            return step.value
        pieces: list[str] = []
        try:
            value, error = await _aperform(client, step, on_delta, pieces), None
        except asyncio.CancelledError as exc:
            if isinstance(step, Ask) and step.deltas:
                value, error, cancelled = None, Interrupted("".join(pieces)), exc
            else:
                value, error = None, exc
        except BaseException as exc:
            value, error = None, exc


def _next(flow: Flow[T], value: Any, error: BaseException | None) -> "Step | StopIteration":
    try:
        return flow.throw(error) if error is not None else flow.send(value)
    except StopIteration as done:
        return done


def _perform(client: redis.Redis, step: Step) -> Any:
    if isinstance(step, store.Send):
        return store.send(client, step)
    if isinstance(step, Sleep):
        return time.sleep(step.seconds)
    return step.provider.complete(step.request)


async def _aperform(
    client: redis.asyncio.Redis, step: Step, on_delta: Callable[[Delta], None] | None, pieces: list[str]
) -> Any:
    if isinstance(step, store.Send):
        return await store.asend(client, step)
    if isinstance(step, Sleep):
        return await asyncio.sleep(step.seconds)
    async with contextlib.aclosing(step.provider.astream(step.request)) as stream:
        async for item in stream:
            if isinstance(item, Completion):
                return item
            if step.deltas:
                pieces.append(item)
                if on_delta is not None:
                    on_delta(Delta(item))
    raise LLMBadResponse("The model's stream ended without a completion.")
