import json
import logging

from config.logging import JsonFormatter, KeyValueFormatter, RequestIdFilter, request_id_var


def _record(msg: str, **extra) -> logging.LogRecord:
    record = logging.LogRecord("chat.turns", logging.INFO, __file__, 1, msg, None, None)
    record.__dict__.update(extra)
    RequestIdFilter().filter(record)
    return record


def test_key_value_lines_carry_the_request_id_and_extra_fields():
    token = request_id_var.set("req-42")
    try:
        line = KeyValueFormatter().format(_record("turn finished", session_id="s-1", duration_ms=12))
    finally:
        request_id_var.reset(token)
    assert "request_id=req-42" in line
    assert 'event="turn finished"' in line
    assert "session_id=s-1" in line
    assert "duration_ms=12" in line


def test_json_lines_parse_and_default_the_request_id_outside_requests():
    payload = json.loads(JsonFormatter().format(_record("cache miss", key_prefix="customer-context:v1")))
    assert payload["request_id"] == "-"
    assert payload["event"] == "cache miss"
    assert payload["key_prefix"] == "customer-context:v1"


def test_exception_messages_are_not_logged_only_their_type():
    try:
        raise ValueError("alice@example.com said something private")
    except ValueError:
        import sys

        record = _record("failed")
        record.exc_info = sys.exc_info()
    line = KeyValueFormatter().format(record)
    assert "exc_type=ValueError" in line
    assert "exc_where=test_logging.py:" in line
    assert "alice@example.com" not in line
    assert "private" not in line


def test_failed_responses_are_logged_with_the_request_id(client, caplog):
    caplog.handler.addFilter(RequestIdFilter())  # as the configured handler does, at emit time
    with caplog.at_level(logging.INFO):
        client.get("/no-such-page", HTTP_X_REQUEST_ID="req-404")
    access = [r for r in caplog.records if r.name == "access"]
    assert access, "one access line per request"
    assert access[-1].status == 404
    assert access[-1].path == "/no-such-page"
    assert access[-1].request_id == "req-404"
    assert all(r.request_id == "req-404" for r in caplog.records if r.name == "django.request")
    assert request_id_var.get() == "-", "lines after the response belong to no request"
