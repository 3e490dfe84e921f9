"""Every error from /api/ is an RFC 9457 problem with a stable code; never HTML, never a traceback."""

import logging

import pytest
from django.test import RequestFactory

from chat import errors
from chat.problems import PROBLEMS
from config.logging import KeyValueFormatter
from customers import services as customers
from llm import services as llm
from tests.chat.support import assert_problem

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path",
    ["/api/v1/nope", "/api/v1/sessions/not-a-uuid", "/api/v1/sessions/", "/api/v1/me/", "/api/elsewhere"],
)
def test_unknown_api_paths_are_404_problems(alice, api, path):
    assert_problem(api(alice).get(path), 404, "not_found")


def test_paths_outside_the_api_keep_django_pages(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_a_wrong_method_is_405_with_allow(alice, api):
    response = api(alice).delete("/api/v1/me")
    assert_problem(response, 405, "method_not_allowed")
    assert "GET" in response["Allow"]


def test_a_body_that_is_not_json_is_415(alice, api):
    response = api(alice).post("/api/v1/sessions", data="title=x", content_type="text/plain")
    assert_problem(response, 415, "unsupported_media_type")


def test_malformed_json_is_400(alice, api):
    response = api(alice).post("/api/v1/sessions", data='{"title": ', content_type="application/json")
    assert_problem(response, 400, "invalid_request")


def test_a_body_that_is_not_an_object_is_400(alice, api):
    response = api(alice).post("/api/v1/sessions", data="[1, 2]", content_type="application/json")
    assert_problem(response, 400, "invalid_request")


def test_unknown_and_read_only_fields_are_400_naming_each(alice, api):
    response = api(alice).post(
        "/api/v1/sessions", {"title": "t", "customer_id": 7, "colour": "red", "status": "ended"}, format="json"
    )
    body = assert_problem(response, 400, "invalid_request")
    assert body["errors"] == {
        "customer_id": ["This field is read-only."],
        "status": ["This field is read-only."],
        "colour": ["Unknown field."],
    }


def test_a_body_over_the_byte_limit_is_413_before_parsing(alice, api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64
    response = api(alice).post("/api/v1/sessions", {"title": "x" * 100}, format="json")
    assert_problem(response, 413, "message_too_long")


def test_an_unacceptable_accept_header_is_406(alice, api):
    response = api(alice).get("/api/v1/me", HTTP_ACCEPT="application/xml")
    assert_problem(response, 406, "not_acceptable")


def test_an_unexpected_exception_is_a_bare_500_logged_by_type_only(caplog):
    with caplog.at_level(logging.ERROR, logger="chat.errors"):
        response = errors.exception_handler(RuntimeError("secret customer text"), {})
    body = assert_problem(response, 500, "internal_error")
    assert "secret" not in response.content.decode()
    assert "Traceback" not in body["detail"]
    (record,) = caplog.records
    line = KeyValueFormatter().format(record)
    assert "exc_type=RuntimeError" in line
    assert "secret" not in line


def test_django_error_views_answer_problems_under_api_only():
    factory = RequestFactory()
    assert_problem(errors.server_error(factory.get("/api/v1/me")), 500, "internal_error")
    assert_problem(errors.bad_request(factory.get("/api/v1/me"), Exception()), 400, "invalid_request")
    assert_problem(errors.permission_denied(factory.get("/api/v1/me"), Exception()), 403, "permission_denied")
    assert errors.server_error(factory.get("/shop")).headers["Content-Type"].startswith("text/html")


def _subclasses(base: type) -> list[type]:
    found = []
    for sub in base.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return [sub for sub in dict.fromkeys(found) if not sub.__name__.startswith("_")]  # private bases raise nothing


@pytest.mark.parametrize(
    "error", [*_subclasses(customers.CustomersError), *_subclasses(llm.LLMError)], ids=lambda error: error.__name__
)
def test_every_domain_error_code_is_registered_with_its_status(error):
    """The registry is the one place a code gets its status and title: no error of customers or llm goes without."""
    exc = error.__new__(error)
    Exception.__init__(exc, "internal text: host 10.0.0.7")
    problem = errors.problem_for(exc)
    assert problem.code == error.code
    assert problem.http_status == PROBLEMS[error.code].status
    assert problem.body()["title"] == PROBLEMS[error.code].title
    if error is customers.DatabaseUnavailable:
        assert problem.detail == "The database is unavailable; nothing was changed. Try again shortly."
    elif PROBLEMS[error.code].fixed:  # the error's own text may name hosts, vendors or ids
        assert problem.detail == PROBLEMS[error.code].detail
    else:
        assert problem.detail == "internal text: host 10.0.0.7"


def test_the_schema_examples_and_the_responses_share_the_registered_texts(alice, api):
    from chat.openapi import problem_responses

    [response] = problem_responses("not_found").values()
    [example] = response.examples
    body = api(alice).get("/api/v1/nope").json()
    assert example.value == body
