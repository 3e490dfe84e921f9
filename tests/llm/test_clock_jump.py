"""A turn whose machine was paused: on resume the wall clock (Redis's, which reckons every expiry) has moved on by
minutes while the turn itself took seconds. A holder nobody queued behind keeps its lock and stores its reply; one
that another turn overtook meanwhile stores nothing (fencing)."""

import threading
from uuid import uuid4

import pytest

from llm import services
from llm.data import Turn
from llm.errors import TurnInProgress
from tests.llm.contexts import alice
from tests.llm.support import raw_redis, reply, run_async

JUMP_SECONDS = 600  # past TURN_LOCK_TTL_SECONDS, as in a `make e2e` run whose machine was paused


@pytest.fixture
def session_id():
    return uuid4()


def jump_wall_clock(seconds: float) -> None:
    """What Redis sees once its clock jumped `seconds` ahead: keys that had less to live are gone, the others have
    that much less, and every lock expiry (milliseconds of the Redis clock) is that much nearer."""
    client, jump_ms = raw_redis(), round(seconds * 1000)
    for key in client.scan_iter():
        if key.endswith(":lock:expiry"):
            client.hset(key, mapping={k: int(v) - jump_ms for k, v in client.hgetall(key).items()})
        left = client.pttl(key)
        if 0 < left <= jump_ms:
            client.delete(key)
        elif left > 0:
            client.pexpire(key, left - jump_ms)


class _Pause(threading.Thread):
    """The machine paused once the model call is under way (joined: the jump was made, or its error raised)."""

    def __init__(self, fake_openai) -> None:
        super().__init__()
        self._fake, self._error = fake_openai, None

    def run(self) -> None:
        try:
            self._fake.wait_for_requests(1)
            jump_wall_clock(JUMP_SECONDS)
        except BaseException as exc:  # raised by join, in the test
            self._error = exc

    def join(self, timeout: float | None = None) -> None:
        super().join(timeout)
        if self._error is not None:
            raise self._error


def _paused_during_the_call(fake_openai) -> _Pause:
    pauser = _Pause(fake_openai)
    pauser.start()
    return pauser


def _stored(session_id) -> list[tuple[int, str]]:
    return [(m.seq, m.content) for m in services.messages_list(session_id=session_id)]


@pytest.fixture
def slow_lock(settings):
    settings.TURN_LOCK_TTL_SECONDS = 60
    settings.TURN_DEADLINE_SECONDS = 50


def test_a_turn_paused_past_its_lease_with_nobody_behind_it_stores_its_reply(slow_lock, fake_openai, session_id):
    # Before, the reply was refused at FINISH ("the turn lock expired before the reply was stored", 409) and lost.
    fake_openai.script(reply("stored all the same", delay=0.3), reply("and the next"))
    pauser = _paused_during_the_call(fake_openai)
    turn = services.turn_reply(session_id=session_id, text="slow", context=alice())
    pauser.join()
    assert turn.assistant_message.content == "stored all the same"
    services.turn_reply(session_id=session_id, text="next", context=alice())
    assert _stored(session_id) == [(1, "slow"), (2, "stored all the same"), (3, "next"), (4, "and the next")]


def test_a_streamed_turn_paused_past_its_lease_stores_its_reply(slow_lock, fake_openai, session_id):
    fake_openai.script(reply("streamed and stored", delay=0.3))
    pauser = _paused_during_the_call(fake_openai)

    async def drain() -> list:
        produce = services.turn_reply_stream(session_id=session_id, text="slow", context=alice())
        return [item async for item in produce]

    items = run_async(drain())
    pauser.join()
    assert isinstance(items[-1], Turn)
    assert items[-1].assistant_message.content == "streamed and stored"
    assert _stored(session_id) == [(1, "slow"), (2, "streamed and stored")]


def test_a_paused_turn_that_another_overtook_meanwhile_stores_nothing(slow_lock, fake_openai, session_id):
    fake_openai.script(reply("too late", delay=0.6), reply("the overtaking turn"))
    outcome: dict = {}

    def paused_turn() -> None:
        try:
            services.turn_reply(session_id=session_id, text="paused", context=alice())
        except TurnInProgress as exc:
            outcome["error"] = exc

    paused = threading.Thread(target=paused_turn)
    paused.start()
    _paused_during_the_call(fake_openai).join()
    overtaking = services.turn_reply(session_id=session_id, text="meanwhile", context=alice())
    paused.join()
    assert isinstance(outcome.get("error"), TurnInProgress)
    assert overtaking.assistant_message.content == "the overtaking turn"
    assert _stored(session_id) == [(1, "paused"), (2, "meanwhile"), (3, "the overtaking turn")]
