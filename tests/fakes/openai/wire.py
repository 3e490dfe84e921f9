"""What answers carry, plain or streamed: deterministic token counts, usage, OpenAI-shaped error bodies, and the
refusals of servers that do not take every `response_format`."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

_TOKEN_RE = re.compile(r"\s*\S+")


def split_tokens(text: str) -> list[str]:
    """Split into word-sized pieces that keep their leading whitespace, so they join back exactly."""
    pieces = _TOKEN_RE.findall(text)
    if not pieces:
        return [text] if text else []
    tail = text[sum(map(len, pieces)) :]
    if tail:  # trailing whitespace
        pieces[-1] += tail
    return pieces


def message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def prompt_tokens(body: Mapping[str, Any]) -> int:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return 3
    return sum(len(message_text(m.get("content"))) // 4 + 4 for m in messages if isinstance(m, dict)) + 3


def usage(body: Mapping[str, Any], completion_text: str, override: Mapping[str, int] | None) -> dict[str, int]:
    counts = {"prompt_tokens": prompt_tokens(body), "completion_tokens": max(1, len(completion_text) // 4)}
    counts.update(override or {})
    if "total_tokens" not in (override or {}):
        counts["total_tokens"] = counts["prompt_tokens"] + counts["completion_tokens"]
    return counts


def error_body(status: int, message: str) -> dict[str, Any]:
    if status == 429:
        error_type, code = "requests", "rate_limit_exceeded"
    elif status >= 500:
        error_type, code = "server_error", None
    else:
        error_type, code = "invalid_request_error", None
    return {"error": {"message": message, "type": error_type, "param": None, "code": code}}


def format_seconds(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


Refuse = Literal["json_schema", "response_format"]

# llama-cpp-python's server (0.3.36) validates `response_format.type` against "text" and "json_object", and its error
# handler answers the validation error as a 500 with pydantic's errors and the route as the message (as it answered
# `python -m llama_cpp.server`, but for the path of its installation).
LLAMA_CPP_PYTHON_MESSAGE = (
    "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
    "'msg': \"Input should be 'text' or 'json_object'\", 'input': '%s', "
    "'ctx': {'expected': \"'text' or 'json_object'\"}}\n\n"
    '  File "site-packages/llama_cpp/server/app.py", line 376, in create_chat_completion\n'
    "    POST /v1/chat/completions"
)
# What OpenAI answers a parameter it does not know: a server without structured output says the same.
UNKNOWN_PARAMETER_MESSAGE = "Unrecognized request argument supplied: response_format"


def _refuse_json_schema(body: Mapping[str, Any]) -> tuple[int, dict[str, Any]] | None:
    kind = (body.get("response_format") or {}).get("type")
    if kind in (None, "text", "json_object"):
        return None
    message = LLAMA_CPP_PYTHON_MESSAGE % kind
    return 500, {"error": {"message": message, "type": "internal_server_error", "param": None, "code": None}}


def _refuse_response_format(body: Mapping[str, Any]) -> tuple[int, dict[str, Any]] | None:
    if "response_format" not in body:
        return None
    refused = error_body(400, UNKNOWN_PARAMETER_MESSAGE)
    refused["error"]["param"] = "response_format"
    return 400, refused


REFUSALS: dict[str, Callable[[Mapping[str, Any]], tuple[int, dict[str, Any]] | None]] = {
    "json_schema": _refuse_json_schema,
    "response_format": _refuse_response_format,
}


def refusal(refuse: Refuse | None, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]] | None:
    """The status and error body with which a server refusing `refuse` answers `body`; None when it takes it."""
    return None if refuse is None else REFUSALS[refuse](body)
