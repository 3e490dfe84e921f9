"""The OpenAPI schema generates without warnings, documents every endpoint of version 1, and is browsable."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

OPERATIONS = {
    "/api/v1/me": {"get", "patch"},
    "/api/v1/me/proposals/{proposal_id}/accept": {"post"},
    "/api/v1/me/proposals/{proposal_id}/decline": {"post"},
    "/api/v1/sessions": {"get", "post"},
    "/api/v1/sessions/{session_id}": {"get", "delete"},
    "/api/v1/sessions/{session_id}/messages": {"get", "post"},
    "/api/v1/sessions/{session_id}/regenerate": {"post"},
    "/api/v1/sessions/{session_id}/mood": {"put"},
    "/api/v1/sessions/{session_id}/constraints": {"put"},
    "/api/v1/sessions/{session_id}/end": {"post"},
    "/api/v1/recommendations/{recommendation_id}/feedback": {"post"},
}


@pytest.fixture(scope="module")
def schema(tmp_path_factory) -> dict:
    """`manage.py spectacular --validate --fail-on-warn`, in a process of its own (warnings are counted per process)."""
    path = tmp_path_factory.mktemp("schema") / "openapi.json"
    command = ["manage.py", "spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json"]
    result = subprocess.run(
        [sys.executable, *command, "--file", str(path)],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stderr, result.stderr
    return json.loads(path.read_text())


def test_every_endpoint_is_documented(schema):
    documented = {path: set(ops) - {"parameters"} for path, ops in schema["paths"].items()}
    assert documented == OPERATIONS


def test_every_operation_has_a_summary_and_a_tag(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            summary = operation.get("summary") or ""
            assert summary.strip(), (method, path)
            assert not summary.endswith("."), (method, path)
            assert operation["tags"] in (["me"], ["sessions"], ["messages"], ["recommendations"]), (method, path)


def test_errors_are_problem_details(schema):
    problem = schema["components"]["schemas"]["ProblemOut"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "code"}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            errors = {status: r for status, r in operation["responses"].items() if status.startswith(("4", "5"))}
            assert {"401", "403"} <= set(errors), (method, path)
            for response in errors.values():
                assert list(response["content"]) == ["application/problem+json"], (method, path)


def test_each_problem_response_names_each_of_its_codes_once_with_an_example(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for status, response in operation.get("responses", {}).items():
                if not status.startswith(("4", "5")):
                    continue
                codes = re.findall(r"`(\w+)`", response["description"].partition("`code`:")[2])
                assert len(codes) == len(set(codes)), (method, path, status)
                examples = response["content"]["application/problem+json"]["examples"].values()
                assert sorted(codes) == sorted(example["value"]["code"] for example in examples), (method, path)


def test_every_endpoint_that_reads_a_body_documents_how_a_body_is_refused(schema):
    for path, operations in schema["paths"].items():
        for method in {"post", "put", "patch"} & set(operations):
            responses = operations[method]["responses"]
            assert "`invalid_request`" in responses["400"]["description"], (method, path)
            assert "`unsupported_media_type`" in responses["415"]["description"], (method, path)


def test_every_customer_endpoint_documents_its_throttle(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            throttled = operation["responses"].get("429")
            assert throttled is not None, (method, path)
            assert "Retry-After" in throttled.get("headers", {}), (method, path)
            assert "`throttled`" in throttled["description"], (method, path)


def test_sending_a_message_documents_json_sse_and_the_idempotency_key(schema):
    operation = schema["paths"]["/api/v1/sessions/{session_id}/messages"]["post"]
    assert operation["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith("/TurnOut")
    sse = operation["responses"]["200"]["content"]["text/event-stream"]
    assert "event: done" in next(iter(sse["examples"].values()))["value"]
    headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
    assert headers == {"Idempotency-Key"}
    assert "Idempotent-Replayed" in operation["responses"]["201"]["headers"]
    assert "Retry-After" in operation["responses"]["429"]["headers"]
    regenerate = schema["paths"]["/api/v1/sessions/{session_id}/regenerate"]["post"]
    assert "Idempotency-Key" in {p["name"] for p in regenerate["parameters"]}


def test_token_authentication_is_declared(schema):
    assert schema["components"]["securitySchemes"]["tokenAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": 'API token with the prefix "Token", e.g. `Authorization: Token 9944b0…`',
    }


@pytest.mark.django_db
def test_the_schema_and_docs_are_served(client):
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()
