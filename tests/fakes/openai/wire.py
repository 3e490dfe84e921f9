"""What answers carry, plain or streamed: deterministic token counts, usage, and OpenAI-shaped error bodies."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

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
