"""A limit on every path: turn requests that fail early, token lookups, the schema, readiness, the admin's sign-in.
Each is counted or cached so that a stream of them costs a bounded amount of SQL and CPU (docs/reliability.md,
"A limit on every path"; the flood under load is tests/reliability/test_flood.py)."""

import secrets
from uuid import uuid4

import pytest
from django.contrib.auth import get_user_model
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from tests.chat.support import assert_problem

pytestmark = pytest.mark.django_db


def _send(client, session_id, body):
    return client.post(f"/api/v1/sessions/{session_id}/messages", body, format="json")


def test_turn_requests_that_fail_early_count_against_the_turn_rate(
    alice, bob, api, open_session, settings, django_assert_num_queries
):
    settings.THROTTLE_TURNS_PER_MINUTE = 4
    client = api(alice)
    ended = open_session(alice)
    assert client.post(f"/api/v1/sessions/{ended}/end").status_code == 200
    session = open_session(alice)

    assert_problem(_send(client, uuid4(), {"content": "hi"}), 404, "not_found")  # no such session
    assert_problem(_send(client, open_session(bob), {"content": "hi"}), 404, "not_found")  # bob's
    assert_problem(_send(client, ended, {"content": "hi"}), 409, "session_ended")
    assert_problem(_send(client, session, {"content": ""}), 400, "invalid_request")  # a bad body
    # Four attempts: the rate is spent, for a real turn and for every failing one, before any SQL.
    response = _send(client, session, {"content": "a real question"})
    assert_problem(response, 429, "throttled")
    assert 1 <= int(response["Retry-After"]) <= 60
    with django_assert_num_queries(0):
        assert_problem(_send(client, uuid4(), {"content": "hi"}), 429, "throttled")
        assert_problem(
            client.post(f"/api/v1/sessions/{uuid4()}/regenerate", {"seq": 0}, format="json"), 429, "throttled"
        )
    assert client.get(f"/api/v1/sessions/{session}/messages").json()["results"] == []
    assert _send(api(bob), open_session(bob), {"content": "bob has his own turns"}).status_code == 201


def test_token_lookups_in_the_database_are_limited_per_client_address(alice, bob, settings, django_assert_num_queries):
    settings.THROTTLE_TOKEN_LOOKUPS_PER_MINUTE = 3

    def me(token, address="10.0.0.1"):
        client = APIClient(REMOTE_ADDR=address)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        return client.get("/api/v1/me")

    assert me(alice.token).status_code == 200  # one lookup; cached now
    forged = secrets.token_hex(20)
    with django_assert_num_queries(1):
        assert_problem(me(forged), 401, "not_authenticated")
    with django_assert_num_queries(0):  # an unknown token is cached as absent: no lookup, not counted
        assert_problem(me(forged), 401, "not_authenticated")
    assert_problem(me(secrets.token_hex(20)), 401, "not_authenticated")  # the third lookup
    with django_assert_num_queries(0):  # beyond the limit: refused before the database, whatever the token
        response = me(secrets.token_hex(20))
        assert_problem(response, 429, "throttled")
        assert_problem(me(bob.token), 429, "throttled")  # a real token the cache does not hold is refused too
    assert 1 <= int(response["Retry-After"]) <= 60
    assert me(alice.token).status_code == 200  # a token in the cache needs no lookup
    assert_problem(me(secrets.token_hex(20), address="10.0.0.2"), 401, "not_authenticated")  # another address
    assert me(bob.token, address="10.0.0.2").status_code == 200


def test_the_schema_is_generated_once_per_process(client, monkeypatch):
    generated = []
    get_schema = SchemaGenerator.get_schema

    def counted(self, *args, **kwargs):
        generated.append(1)
        return get_schema(self, *args, **kwargs)

    monkeypatch.setattr(SchemaGenerator, "get_schema", counted)
    first = client.get("/api/schema/")
    assert first.status_code == 200
    for query in ("", "?format=json", "?version=x&lang=ko"):
        again = client.get(f"/api/schema/{query}")
        assert again.status_code == 200
    assert client.get("/api/schema/").content == first.content
    assert b"/api/v1/sessions/{session_id}/messages" in first.content
    assert len(generated) == 1


def test_readiness_is_checked_once_per_window_by_a_process(client, settings, django_assert_num_queries):
    settings.READYZ_CACHE_SECONDS = 60
    assert client.get("/readyz").status_code == 200
    with django_assert_num_queries(0):
        for _ in range(5):
            assert client.get("/readyz").json()["status"] == "ok"
    settings.READYZ_CACHE_SECONDS = 0
    with django_assert_num_queries(2):
        client.get("/readyz")
        client.get("/readyz")


def _sign_in(username, password, address="10.0.0.1"):
    from django.test import Client

    return Client(REMOTE_ADDR=address).post("/admin/login/", {"username": username, "password": password})


def test_admin_sign_ins_are_throttled_per_username_and_per_address(settings):
    settings.ADMIN_LOGIN_ATTEMPTS_PER_USERNAME = 3
    settings.ADMIN_LOGIN_ATTEMPTS_PER_IP = 5
    get_user_model().objects.create_superuser("staff", "staff@example.com", "a-long-staff-passphrase-1")

    assert [_sign_in("staff", f"guess-{n}").status_code for n in range(3)] == [200, 200, 200]  # the form again
    refused = _sign_in("staff", "a-long-staff-passphrase-1", address="10.0.0.9")  # the right one, elsewhere
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 900
    assert "Too many sign-in attempts" in refused.content.decode()

    assert [_sign_in(f"other-{n}", "guess").status_code for n in range(2)] == [200, 200]  # 5 from 10.0.0.1
    assert _sign_in("someone-else", "guess").status_code == 429
    assert _sign_in("Someone-Else", "guess", address="10.0.0.2").status_code == 200

    signed_in = _sign_in("staff2", "x", address="10.0.0.3")
    assert signed_in.status_code == 200
    get_user_model().objects.create_superuser("staff2", "staff2@example.com", "a-long-staff-passphrase-2")
    assert _sign_in("staff2", "a-long-staff-passphrase-2", address="10.0.0.3").status_code == 302
