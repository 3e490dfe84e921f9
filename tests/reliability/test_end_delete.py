"""End and delete against turns, with the app under uvicorn and a model that answers only when the test says so.

End and delete take their place in the session's turn lock like a turn: the turns queued before them finish first,
the ones queued after them are refused with session_ended, nothing is written after them, a deleted session leaves
nothing in Redis, and an ended session's summary covers every exchange that was answered.
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from django.conf import settings

from tests.fakes.openai import Reply
from tests.harness.api import REQUEST_TIMEOUT, auth, open_session, send, wait_for

pytestmark = [pytest.mark.processes, pytest.mark.timeout(90)]

UNTHROTTLED = {
    "THROTTLE_TURNS_PER_MINUTE": "100000",
    "THROTTLE_REQUESTS_PER_MINUTE": "0",
    "DAILY_TOKEN_QUOTA": "1000000000",
}
LOCK_WAIT = 4.0


class GatedModel:
    """Answers a reply request with `echo: <last message>` and a summary with every message it was shown, each only
    once `gate` is set (thread-safe: the fake serves each request on its own thread)."""

    def __init__(self) -> None:
        self.gate = threading.Event()

    def __call__(self, body: dict) -> Reply:
        assert self.gate.wait(30), "the test never opened the gate"
        if "response_format" in body:  # a reply; summaries and folds ask for plain text
            return Reply(f"echo: {body['messages'][-1]['content']}")
        return Reply("summary of: " + " | ".join(m["content"] for m in body["messages"][1:]))


def session_keys(session_id: str) -> list[bytes]:
    with redis.Redis.from_url(settings.REDIS_URL) as client:
        return sorted(client.scan_iter(match=f"chat:{{{session_id}}}:*"))


def queued(session_id: str) -> int:
    """Tickets in the session's turn lock: the holder and everyone in line."""
    with redis.Redis.from_url(settings.REDIS_URL) as client:
        return client.zcard(f"chat:{{{session_id}}}:lock")


def wait_queued(session_id: str, n: int, *also_done) -> None:
    """Until `n` tickets are in line (or a request that should have queued has already been answered)."""
    wait_for(lambda: queued(session_id) >= n or any(f.done() for f in also_done), what=f"{n} tickets in the turn lock")


def no_state_left(session_id: str) -> None:
    """Nothing of the session is left in Redis once the closed marker (no content, seconds) has expired."""
    keys = session_keys(session_id)
    assert keys in ([], [f"chat:{{{session_id}}}:closed".encode()]), keys
    with redis.Redis.from_url(settings.REDIS_URL) as client:
        assert client.pttl(f"chat:{{{session_id}}}:closed") <= (LOCK_WAIT + 2.5) * 1000
    wait_for(lambda: session_keys(session_id) == [], timeout=LOCK_WAIT + 5, what="the closed marker expired")


@pytest.fixture
def gated_server(app_server_factory, fake_openai):
    model = GatedModel()
    fake_openai.set_responder(model)
    server = app_server_factory(
        {**UNTHROTTLED, "TURN_LOCK_WAIT_SECONDS": str(LOCK_WAIT)}, workers=2, openai=fake_openai
    )
    return server, model


def test_delete_waits_for_the_turns_queued_before_it_and_leaves_nothing_in_redis(alice, gated_server, fake_openai):
    server, model = gated_server
    session_id = open_session(server, alice)
    with ThreadPoolExecutor(max_workers=3) as pool:
        in_flight = pool.submit(send, server, alice, session_id, "first")
        fake_openai.wait_for_requests(1, timeout=10)  # the first turn is at the model, holding the lock
        queued_before = pool.submit(send, server, alice, session_id, "second")
        wait_queued(session_id, 2, queued_before)
        deleted = pool.submit(
            server.request, "DELETE", f"/api/v1/sessions/{session_id}", headers=auth(alice), timeout=REQUEST_TIMEOUT
        )
        wait_queued(session_id, 3, deleted)
        assert not deleted.done(), "the delete did not wait for the turns before it"
        model.gate.set()
        first, second, delete = in_flight.result(), queued_before.result(), deleted.result()

    # Every client was told the truth: both turns queued before the delete were answered (and then erased with the
    # session), the delete succeeded, and nothing of the session is left.
    assert first.status == 201, first.body
    assert first.json()["assistant_message"]["content"] == "echo: first"
    assert second.status == 201, second.body
    assert second.json()["assistant_message"]["content"] == "echo: second"
    assert delete.status == 204, delete.body
    assert server.get(f"/api/v1/sessions/{session_id}", headers=auth(alice)).status == 404
    no_state_left(session_id)


def test_a_turn_queued_after_delete_is_refused_and_writes_nothing(alice, gated_server, fake_openai):
    server, model = gated_server
    session_id = open_session(server, alice)
    with ThreadPoolExecutor(max_workers=3) as pool:
        in_flight = pool.submit(send, server, alice, session_id, "first")
        fake_openai.wait_for_requests(1, timeout=10)
        deleted = pool.submit(
            server.request, "DELETE", f"/api/v1/sessions/{session_id}", headers=auth(alice), timeout=REQUEST_TIMEOUT
        )
        wait_queued(session_id, 2, deleted)
        queued_after = pool.submit(send, server, alice, session_id, "after the delete")
        wait_queued(session_id, 3, queued_after)
        model.gate.set()
        first, delete, after = in_flight.result(), deleted.result(), queued_after.result()

    assert first.status == 201, first.body
    assert delete.status == 204, delete.body
    assert after.status == 409, after.body
    assert after.json()["code"] == "session_ended"
    assert len(fake_openai.requests) == 1, "the turn queued after the delete reached the model"
    no_state_left(session_id)


def test_end_summarizes_every_answered_exchange_and_refuses_the_turns_after_it(alice, gated_server, fake_openai):
    server, model = gated_server
    session_id = open_session(server, alice)
    with ThreadPoolExecutor(max_workers=4) as pool:
        in_flight = pool.submit(send, server, alice, session_id, "first")
        fake_openai.wait_for_requests(1, timeout=10)
        queued_before = pool.submit(send, server, alice, session_id, "second")
        wait_queued(session_id, 2, queued_before)
        ended = pool.submit(
            server.request, "POST", f"/api/v1/sessions/{session_id}/end", headers=auth(alice), timeout=REQUEST_TIMEOUT
        )
        wait_queued(session_id, 3, ended)
        queued_after = pool.submit(send, server, alice, session_id, "third")
        wait_queued(session_id, 4, queued_after)
        assert not ended.done(), "the end did not wait for the turns before it"
        model.gate.set()
        first, second, end, third = (f.result() for f in (in_flight, queued_before, ended, queued_after))

    assert first.status == 201, first.body
    assert second.status == 201, second.body
    assert end.status == 200, end.body
    assert third.status == 409, third.body
    assert third.json()["code"] == "session_ended"
    summary = end.json()["summary"]
    for text in ("first", "echo: first", "second", "echo: second"):
        assert text in summary, summary
    assert "third" not in summary
    # The reply and summary requests: two turns and one summary; the refused turn never reached the model.
    assert len(fake_openai.requests) == 3
    wait_for(
        lambda: server.get(f"/api/v1/sessions/{session_id}", headers=auth(alice)).json()["message_count"] == 4,
        what="both answered turns counted",
    )
    time.sleep(0.3)  # a stray write after the end would land by now
    detail = server.get(f"/api/v1/sessions/{session_id}", headers=auth(alice)).json()
    assert (detail["status"], detail["message_count"]) == ("ended", 4), detail
    no_state_left(session_id)


def test_parallel_ends_cost_one_summary_call(alice, gated_server, fake_openai):
    # Before ends took their place in the turn lock, each of them asked the model for a summary.
    server, model = gated_server
    model.gate.set()
    session_id = open_session(server, alice)
    assert send(server, alice, session_id, "hello").status == 201
    asked = len(fake_openai.requests)

    def end():
        return server.request(
            "POST", f"/api/v1/sessions/{session_id}/end", headers=auth(alice), timeout=REQUEST_TIMEOUT
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: end(), range(8)))
    statuses = sorted(r.status for r in responses)
    assert statuses == [200] + [409] * 7, [r.body for r in responses]
    assert {r.json()["code"] for r in responses if r.status == 409} == {"session_ended"}
    assert len(fake_openai.requests) == asked + 1


def test_parallel_ends_are_admitted_like_turns_across_two_app_servers(alice, app_server_factory, fake_openai):
    # Before the fix, an end's summary call was admitted by nothing: 20 parallel ends were 20 uncounted model calls.
    limited = {**UNTHROTTLED, "THROTTLE_TURNS_PER_MINUTE": "3"}
    servers = [app_server_factory(limited, workers=1, openai=fake_openai) for _ in range(2)]
    ends = 20
    session_ids = [open_session(servers[index % 2], alice) for index in range(ends)]
    with redis.Redis.from_url(settings.REDIS_URL) as client:
        for session_id in session_ids:  # one turn each, the turn window emptied after each
            assert send(servers[0], alice, session_id, "Anything new?").status == 201
            client.delete(f"quota:{{{alice.customer_id}}}:turns")
    asked = len(fake_openai.requests)

    def end(index: int):
        return servers[index % 2].request("POST", f"/api/v1/sessions/{session_ids[index]}/end", headers=auth(alice))

    with ThreadPoolExecutor(max_workers=ends) as pool:
        responses = list(pool.map(end, range(ends)))

    assert sorted(r.status for r in responses) == [200] * 3 + [429] * 17, [r.status for r in responses]
    assert len(fake_openai.requests) == asked + 3
    for index, response in enumerate(responses):
        detail = servers[1].get(f"/api/v1/sessions/{session_ids[index]}", headers=auth(alice)).json()
        if response.status == 200:
            assert detail["status"] == "ended"
            continue
        assert response.json()["code"] == "throttled"
        assert 1 <= int(response.headers["retry-after"]) <= 60
        assert (detail["status"], detail["message_count"]) == ("open", 2)  # refused: nothing changed
