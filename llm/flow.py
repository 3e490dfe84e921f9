"""How llm's operations run, sans-IO (as h11 does it): a turn, the turn lock and every round trip are written once,
as generators (flows) that yield the steps they need and get each step's result back:

- `store.Send`: one Redis round trip (its results; a durable one is finished even under cancellation);
- `Sleep`: a pause (polling for the turn lock);
- `Ask`: one model call (its Answer, a reply grounded by llm/answers.py; with `deltas`, the async runner forwards
  the reply as it is produced);
- `HoldLease`: from here to the flow's end, renew the turn lock's lease while a model call runs, and let no model call
  run past a deadline (LLMTimeout). The runner waits for a call in slices of the renewal period, renewing between
  them: a sync call runs in a thread of its own (left to end on its own read timeout if the deadline passes), an
  async one in a task (cancelled at the deadline). No round trip is added to a call shorter than the period.

`run` performs the steps with redis-py's sync client and `Provider.complete`; `arun` with its asyncio client and
`Provider.astream`. A step that fails is raised inside the flow, where it happened, so a flow's `try` blocks see
failures as in plain code. Cancelled during a streamed `Ask`, `arun` raises `Interrupted` with the text produced so far
inside the flow, which may store it, and re-raises the cancellation once the flow is done.
"""

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
import redis.asyncio

from llm import answers, store
from llm.answers import Answer, Grounds
from llm.data import Delta
from llm.errors import LLMBadResponse, LLMTimeout, StoreUnavailable
from llm.providers import ModelRequest, Provider

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
    """Renew the lease with `renew` (a script answering 1 while it holds) every `every` seconds of a model call, and
    answer no model call later than `deadline_seconds` after this step."""

    renew: store.Call
    every: float
    deadline_seconds: float


class _HeldLease:
    """A HoldLease in force: its absolute deadline (time.monotonic), and whether the lease is still held."""

    def __init__(self, step: HoldLease) -> None:
        self.step = step
        self.deadline = time.monotonic() + step.deadline_seconds
        self.held = True

    def slice(self) -> float:
        """Seconds to wait for a call before renewing; LLMTimeout once the deadline has passed."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise LLMTimeout("the turn did not finish within TURN_DEADLINE_SECONDS")
        return min(self.step.every, remaining)

    def renewed(self, results: list[Any]) -> None:
        self.held = self.held and results[0] == 1  # once lost, the write scripts refuse; stop renewing


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
    holding: _HeldLease | None = None
    while True:
        step = _next(flow, value, error)
        if not isinstance(step, Step):
            return step.value
        if isinstance(step, HoldLease):
            holding, value, error = _HeldLease(step), None, None
            continue
        try:
            value, error = _perform(client, step, holding), None
        except BaseException as exc:
            value, error = None, exc


async def arun(client: redis.asyncio.Redis, flow: Flow[T], on_delta: Callable[[Delta], None] | None = None) -> T:
    """Run a flow to its end on the asyncio client, handing each delta of a streamed reply to `on_delta`."""
    value: Any = None
    error: BaseException | None = None
    cancelled: asyncio.CancelledError | None = None
    holding: _HeldLease | None = None
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
            holding, value, error = _HeldLease(step), None, None
            continue
        pieces: list[str] = []
        try:
            value, error = await _aperform(client, step, on_delta, pieces, holding), None
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


def _perform(client: redis.Redis, step: Step, holding: _HeldLease | None) -> Any:
    if isinstance(step, store.Send):
        return store.send(client, step)
    if isinstance(step, Sleep):
        return time.sleep(step.seconds)
    assert isinstance(step, Ask)
    if holding is None:
        return answers.complete(step.provider, step.request, step.grounds)
    outcome: dict[str, Any] = {}

    def call() -> None:
        try:
            outcome["value"] = answers.complete(step.provider, step.request, step.grounds)
        except BaseException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=call, name="llm-model-call", daemon=True)
    worker.start()
    while True:
        worker.join(holding.slice())
        if not worker.is_alive():
            break
        if holding.held and time.monotonic() < holding.deadline:
            with contextlib.suppress(StoreUnavailable):
                holding.renewed(store.run_all(client, (holding.step.renew,)))
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


async def _aperform(
    client: redis.asyncio.Redis,
    step: Step,
    on_delta: Callable[[Delta], None] | None,
    pieces: list[str],
    holding: _HeldLease | None,
) -> Any:
    if isinstance(step, store.Send):
        return await store.asend(client, step)
    if isinstance(step, Sleep):
        return await asyncio.sleep(step.seconds)
    assert isinstance(step, Ask)
    if holding is None:
        return await _aask(step, on_delta, pieces)
    call = asyncio.ensure_future(_aask(step, on_delta, pieces))
    try:
        while True:
            done, _ = await asyncio.wait({call}, timeout=holding.slice())
            if done:
                return call.result()
            if holding.held and time.monotonic() < holding.deadline:
                with contextlib.suppress(StoreUnavailable):
                    holding.renewed(await _around_trip(client, (holding.step.renew,)))
    finally:
        if not call.done():
            call.cancel()
            with contextlib.suppress(BaseException):
                await call


async def _around_trip(client: redis.asyncio.Redis, calls: tuple[store.Call, ...]) -> list[Any]:
    """`store.run_all` on the asyncio client: one round trip outside the flow (a script reloaded if need be)."""
    trip, results = store.round_trip(calls), None
    while True:
        try:
            results = await store.asend(client, trip.send(results))
        except StopIteration as done:
            return done.value


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
