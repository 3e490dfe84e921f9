"""Structured log lines with the current request id.

Callers log events with `extra={...}` fields (ids, counts, durations), never message text, tokens or customer PII.
"""

import json
import logging
import traceback
from contextvars import ContextVar

from django.core.signals import request_finished

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")


def _forget_request_id(**_: object) -> None:
    # After the response is closed (and Django has logged it), later lines in this thread belong to no request.
    request_id_var.set("-")


request_finished.connect(_forget_request_id, dispatch_uid="config.logging.forget_request_id")

_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime", "request_id"}
)
# Django's failure lines (django.request) pass the request object, whose repr holds the query string; their
# message names the path already.
_DROPPED_EXTRAS = frozenset({"request"})


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def _fields(record: logging.LogRecord) -> dict[str, object]:
    fields: dict[str, object] = {
        "ts": f"{record.created:.3f}",
        "level": record.levelname.lower(),
        "logger": record.name,
        "request_id": getattr(record, "request_id", "-"),
        "event": record.getMessage(),
    }
    for key, value in record.__dict__.items():
        if key not in _STANDARD_ATTRS and key not in _DROPPED_EXTRAS and not key.startswith("_"):
            fields[key] = value
    if record.exc_info and record.exc_info[0] is not None:
        # The exception type and where it was raised, never its message: messages can carry request data.
        fields["exc_type"] = record.exc_info[0].__name__
        frames = traceback.extract_tb(record.exc_info[2])
        if frames:
            fields["exc_where"] = f"{frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}"
    return fields


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{key}={_kv_value(value)}" for key, value in _fields(record).items())


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(record), default=str, ensure_ascii=False)


def _kv_value(value: object) -> str:
    text = str(value)
    if not text or any(ch in text for ch in ' "=\n'):
        return json.dumps(text, ensure_ascii=False)
    return text
