"""How llm's operations run, sans-IO (as h11 does it): a turn, the turn lock and every round trip are written once,
as generators (flows) that yield the steps they need and get each step's result back:

- `store.Send`: one Redis round trip (its results; a durable one is finished even under cancellation);
- `Sleep`: a pause (polling for the turn lock);
- `Ask`: one model call (its Answer, a reply grounded by llm/answers.py; with `deltas`, the async runner forwards
  the reply as it is produced);
- `HoldLease`: from here to the flow's end, keep the turn lock's lease renewed (by the process's one renewer,
  llm/renewal.py: no round trip for a turn shorter than the period), and let no model call run past a deadline
  (LLMTimeout): a sync call runs in the calling thread, its tries bounded by the deadline (`ModelRequest.deadline`),
  an async one is cancelled at it.

`run` performs the steps with redis-py's sync client and `Provider.complete`; `arun` with its asyncio client and
`Provider.astream`. A step that fails is raised inside the flow, where it happened, so a flow's `try` blocks see
failures as in plain code. Cancelled during a streamed `Ask`, `arun` raises `Interrupted` with the text produced so far
inside the flow, which may store it, and re-raises the cancellation once the flow is done.
"""

import asyncio
import contextlib
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import redis
import redis.asyncio

from llm import answers, renewal, store
from llm.answers import Answer, Grounds
from llm.data import Delta
from llm.errors import LLMBadResponse, LLMTimeout
from llm.providers import PAST_DEADLINE, ModelRequest, Provider

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Sleep:
    seconds: float


@dataclass(frozen=True, slots=True)
class Ask:
    provider: Provider
    request: ModelRequest
    grounds: Grounds | None = None  # a reply's: what it is grounded in (llm/answers.py)
    deltas: bool = False  # forward the reply's deltas as they come (async runner)


@dataclass(frozen=True, slots=True)
class HoldLease:
    """From here to the flow's end, renew the lease with `renew` (a script answering 1 while it holds) every `every`
    seconds (llm/renewal.py), and answer no model call later than `deadline_seconds` after this step."""

    renew: store.Call
    every: float
    deadline_seconds: float


class Interrupted(BaseException):
    """Raised inside a flow whose streamed Ask was cancelled: `text` is what the model had produced."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


Step = store.Send | Sleep | Ask | HoldLease
Flow = Generator[Step, Any, T]


def run(client: redis.Redis, flow: Flow[T]) -> T:
    """Run a flow to its end on the sync client."""
    value: Any = None
    error: BaseException | None = None
    deadline: float | None = None
    with contextlib.ExitStack() as held:
        while True:
            step = _next(flow, value, error)
            if not isinstance(step, Step):
                return step.value
            if isinstance(step, HoldLease):
                deadline, value, error = _hold(held, step), None, None
                continue
            try:
                value, error = _perform(client, step, deadline), None
            except BaseException as exc:
                value, error = None, exc


async def arun(client: redis.asyncio.Redis, flow: Flow[T], on_delta: Callable[[Delta], None] | None = None) -> T:
    """Run a flow to its end on the asyncio client, handing each delta of a streamed reply to `on_delta`."""
    value: Any = None
    error: BaseException | None = None
    cancelled: asyncio.CancelledError | None = None
    deadline: float | None = None
    with contextlib.ExitStack() as held:
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
            if isinstance(step, HoldLease):
                deadline, value, error = _hold(held, step), None, None
                continue
            pieces: list[str] = []
            try:
                value, error = await _aperform(client, step, on_delta, pieces, deadline), None
            except asyncio.CancelledError as exc:
                if isinstance(step, Ask) and step.deltas:
                    value, error, cancelled = None, Interrupted("".join(pieces)), exc
                else:
                    value, error = None, exc
            except BaseException as exc:
                value, error = None, exc


def _hold(held: contextlib.ExitStack, step: HoldLease) -> float:
    """The lease renewed until the flow ends; the deadline of its model calls (time.monotonic)."""
    held.enter_context(renewal.renewed(step.renew, every=step.every))
    return time.monotonic() + step.deadline_seconds


def _remaining(deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise LLMTimeout(PAST_DEADLINE)
    return remaining


def _next(flow: Flow[T], value: Any, error: BaseException | None) -> "Step | StopIteration":
    try:
        return flow.throw(error) if error is not None else flow.send(value)
    except StopIteration as done:
        return done


def _perform(client: redis.Redis, step: Step, deadline: float | None) -> Any:
    if isinstance(step, store.Send):
        return store.send(client, step)
    if isinstance(step, Sleep):
        return time.sleep(step.seconds)
    assert isinstance(step, Ask)
    request = step.request
    if deadline is not None:
        _remaining(deadline)
        request = replace(request, deadline=deadline)  # the provider's tries end by then (LLMTimeout)
    return answers.complete(step.provider, request, step.grounds)


async def _aperform(
    client: redis.asyncio.Redis,
    step: Step,
    on_delta: Callable[[Delta], None] | None,
    pieces: list[str],
    deadline: float | None,
) -> Any:
    if isinstance(step, store.Send):
        return await store.asend(client, step)
    if isinstance(step, Sleep):
        return await asyncio.sleep(step.seconds)
    assert isinstance(step, Ask)
    if deadline is None:
        return await _aask(step, on_delta, pieces)
    try:
        async with asyncio.timeout(_remaining(deadline)):
            return await _aask(step, on_delta, pieces)
    except TimeoutError:
        raise LLMTimeout(PAST_DEADLINE) from None


async def _aask(step: Ask, on_delta: Callable[[Delta], None] | None, pieces: list[str]) -> Any:
    async with contextlib.aclosing(answers.stream(step.provider, step.request, step.grounds)) as stream:
        async for item in stream:
            if isinstance(item, Answer):
                return item
            if step.deltas:
                pieces.append(item)
                if on_delta is not None:
                    on_delta(Delta(item))
    raise LLMBadResponse("The model's stream ended without a completion.")
