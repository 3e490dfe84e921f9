"""Schemathesis against the OpenAPI schema that the running app serves (/api/schema/ under uvicorn).

Every operation gets positive and negative data (examples, coverage and fuzzing phases; at most MAX_EXAMPLES per
operation and phase, derandomized and seeded), authenticated as alice. Each response must not be a server error; its
status code, content type, headers and body must be the ones the schema declares; negative data must be refused; an
operation that answered 2xx must refuse the same request without a token and with a forged one. Path parameters that
are valid UUIDs name one of alice's real sessions half of the time (the operations that end or erase a session get
sessions of their own, so that the others keep one to work on), bob's session a quarter of the time. No answer to
alice carries bob's data, and the fuzzed session's history still obeys the rule of tests/reliability/rules.py.
"""

import uuid
from datetime import timedelta

import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st

from tests.harness.app_server import AppServer
from tests.harness.logs import json_lines
from tests.reliability.rules import assert_absent, check_history

pytestmark = [pytest.mark.processes, pytest.mark.timeout(150)]

MAX_EXAMPLES = 25
SEED = 20261126
BOB_CANARY = "bob-private-canary-0d4e"
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
    "ignored_auth",
]


def _open_session_with_a_turn(server: AppServer, token: str, content: str = "Dinner ideas?") -> str:
    headers = {"Authorization": f"Token {token}"}
    response = server.request("POST", "/api/v1/sessions", payload={"title": "Fuzzed"}, headers=headers)
    assert response.status == 201, response.body
    session_id = response.json()["id"]
    turn = server.request(
        "POST", f"/api/v1/sessions/{session_id}/messages", payload={"content": content}, headers=headers
    )
    assert turn.status == 201, turn.body
    return session_id


def _is_uuid(value: object) -> bool:
    try:
        uuid.UUID(value)
    except (TypeError, ValueError, AttributeError):
        return False
    return True


@pytest.fixture
def api_schema(app_server_factory, fake_openai, alice, bob):
    # A high turn rate and no request limit: fuzzed requests should reach the app, not stop at 429.
    server = app_server_factory(
        {"THROTTLE_TURNS_PER_MINUTE": "100000", "THROTTLE_REQUESTS_PER_MINUTE": "0"}, workers=1, openai=fake_openai
    )
    live, to_end, to_erase = (_open_session_with_a_turn(server, alice.token) for _ in range(3))
    bob_session = _open_session_with_a_turn(server, bob.token, f"I am bob, {BOB_CANARY}")
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            # As the scheme's credentials rather than a bare header, so that `ignored_auth` knows them for real
            # ones and probes each operation without them and with a forged token.
            "auth": {"openapi": {"tokenAuth": {"api_key": f"Token {alice.token}"}}},
            "request-timeout": 10,
            "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
            "phases": {"stateful": {"enabled": False}},
        }
    )
    schema = schemathesis.openapi.from_url(f"{server.url}/api/schema/", config=config)

    @schema.hook
    def flatmap_path_parameters(context, path_parameters):
        # Invalid ids (negative data) stay as generated: they must be refused.
        if not path_parameters or not _is_uuid(path_parameters.get("session_id")):
            return st.just(path_parameters)
        operation = context.operation
        own = to_end if operation.path.endswith("/end") else to_erase if operation.method == "delete" else live
        choices = [own, own, bob_session, path_parameters["session_id"]]
        return st.sampled_from([{**path_parameters, "session_id": choice} for choice in choices])

    yield schema

    history = server.get(f"/api/v1/sessions/{live}/messages", headers={"Authorization": f"Token {alice.token}"})
    assert history.status == 200, history.body
    assert len(history.json()["results"]) >= 2
    check_history(history.json()["results"])
    errors = [line for line in json_lines(server.log_text()) if line.get("level") in ("error", "critical")]
    assert errors == []
    assert_absent(server.log_text(), [BOB_CANARY, alice.token, bob.token], where="the log")


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request):
    # schemathesis 4.32 names each operation's subtest by rewriting `node._nodeid`, which pytest 9.2 no longer has
    # (node ids became structured); without it, from_fixture fails before running anything.
    request.node._nodeid = request.node.nodeid


@hypothesis.settings(deadline=timedelta(seconds=10))  # per example: its request and the auth probes
@schema.parametrize()
def test_the_api_keeps_to_its_schema(case, bob):
    response = case.call_and_validate()
    assert_absent(response.text, [BOB_CANARY, bob.token, "Bob Park"], where=f"the answer to {case.operation.label}")
