"""The API served by uvicorn in separate processes: a client that disconnects mid-stream, throttling shared by
processes, and a database outage around a turn. Data is committed (transactional_db via app_server_factory)."""

import http.client
import json
import threading

import pytest
from django.db import connection, transaction

from customers.models import ProfileProposal
from tests.fakes.openai import Reply
from tests.harness.api import auth, open_session, send, wait_for
from tests.harness.app_server import database_address, database_url_for_tests

pytestmark = [pytest.mark.processes, pytest.mark.timeout(90)]


def test_a_client_that_disconnects_mid_stream_loses_nothing(alice, app_server_factory, fake_openai):
    words = ["Try ", "the ", "spicy ", "tofu ", "stew ", "at ", "the ", "corner ", "place ", "tonight."]
    fake_openai.script(Reply("".join(words), chunks=words, chunk_delay=0.15))
    server = app_server_factory(workers=1, openai=fake_openai)
    session_id = open_session(server, alice)

    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    conn.request(
        "POST",
        f"/api/v1/sessions/{session_id}/messages",
        body=json.dumps({"content": "Dinner?"}),
        headers={**auth(alice), "Content-Type": "application/json", "Accept": "text/event-stream"},
    )
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type") == "text/event-stream"
    while not response.readline().startswith(b"event: delta"):
        pass
    conn.sock.close()  # gone after the first piece of the reply, long before its end
    conn.close()

    def recorded():
        session = server.get(f"/api/v1/sessions/{session_id}", headers=auth(alice)).json()
        return session if session["message_count"] == 2 else None

    session = wait_for(recorded)
    assert [(m["role"], m["content"]) for m in session["messages"]] == [
        ("user", "Dinner?"),
        ("assistant", "".join(words)),
    ]
    assert "interrupted" not in session["messages"][1]


def test_the_turn_rate_is_shared_by_every_process(alice, app_server_factory, settings, api):
    settings.THROTTLE_TURNS_PER_MINUTE = 3
    server = app_server_factory({"THROTTLE_TURNS_PER_MINUTE": "3"}, workers=1)
    session_id = open_session(server, alice)
    here = api(alice)

    assert send(server, alice, session_id, "one").status == 201
    assert here.post(f"/api/v1/sessions/{session_id}/messages", {"content": "two"}, format="json").status_code == 201
    assert send(server, alice, session_id, "three").status == 201

    refused = send(server, alice, session_id, "four")
    assert refused.status == 429
    assert refused.json()["code"] == "throttled"
    assert int(refused.headers["retry-after"]) >= 1
    refused_here = here.post(f"/api/v1/sessions/{session_id}/messages", {"content": "five"}, format="json")
    assert refused_here.status_code == 429


def test_a_database_outage_fails_a_turn_before_the_model_even_when_every_read_is_cached(
    alice, app_server_factory, fault_proxy_factory, fake_openai
):
    proxy = fault_proxy_factory(*database_address())
    server = app_server_factory(
        {"DATABASE_URL": database_url_for_tests(port=proxy.port)}, workers=1, openai=fake_openai
    )
    warm, cold = open_session(server, alice), open_session(server, alice)
    assert send(server, alice, warm, "Warm the caches").status == 201
    assert len(fake_openai.requests) == 1

    proxy.cut()
    before = send(server, alice, cold, "The database is gone")
    assert before.status == 503
    assert before.json()["code"] == "service_unavailable"
    assert len(fake_openai.requests) == 1  # refused before any model call

    after = send(server, alice, warm, "Everything on this path is cached")
    assert after.status == 503
    assert after.json()["code"] == "service_unavailable"
    assert "nothing was changed" in after.json()["detail"]
    assert len(fake_openai.requests) == 1  # the touch before the turn found the outage
    messages = server.get(f"/api/v1/sessions/{warm}/messages", headers=auth(alice)).json()["results"]
    assert [m["seq"] for m in messages] == [1, 2]

    proxy.restore()
    assert wait_for(lambda: send(server, alice, cold, "Back again").status == 201, timeout=15)


def test_two_turns_stating_the_same_allergy_at_once_in_two_sessions_make_one_proposal(alice, app_server_factory):
    """Two processes, two sessions, one code: both turns reach their INSERT of the proposal while the table refuses
    writes (EXCLUSIVE allows the turns' reads), then race when it is released. The pending (customer, kind, code)
    unique constraint and ON CONFLICT DO NOTHING leave one proposal; both turns succeed."""
    server = app_server_factory(workers=2)
    sessions = [open_session(server, alice), open_session(server, alice)]
    answers: list[int] = []
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("LOCK TABLE customers_profileproposal IN EXCLUSIVE MODE")
        turns = [
            threading.Thread(target=lambda s=s: answers.append(send(server, alice, s, "참깨 알레르기가 있어요").status))
            for s in sessions
        ]
        for thread in turns:
            thread.start()

        def both_waiting() -> bool:
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # a transaction sees the activity of its first look
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE '%%INSERT INTO customers_profileproposal%%'"
            )
            return cursor.fetchone()[0] == 2

        wait_for(both_waiting, timeout=30, what="both turns waiting to insert their proposal")
    for thread in turns:
        thread.join(timeout=30)
    assert answers == [201, 201]
    rows = ProfileProposal.objects.filter(customer_id=alice.customer_id)
    assert [(row.kind, row.code, row.status) for row in rows] == [("allergy", "sesame", "pending")]
    assert str(rows[0].session_id) in sessions
