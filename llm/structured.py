"""Structured output: the request shapes that ask a server for the reply's JSON object, which one an endpoint takes,
and whether an answer matches the schema.

The schema is the one of llm/reply_json.py (`RESPONSE_FORMAT`); every shape here is derived from it. The shapes, in
the order LLM_STRUCTURED_OUTPUT=auto tries them:

- `json_schema`: `response_format: {"type": "json_schema", "json_schema": {..., "strict": true}}` (OpenAI, vLLM,
  Ollama, llama.cpp's own server).
- `json_object`: `response_format: {"type": "json_object", "schema": <the schema>}`: llama-cpp-python's server, which
  refuses `json_schema` (500, "Input should be 'text' or 'json_object'") and constrains its output to the schema.
- `prompt`: no `response_format`; the schema is written into the system prompt.

A server that refuses a shape for what it is (llm/refusals.py) is asked again at once with the next one, and the
shape that is not refused is kept for that endpoint and model for the life of the process: one refused request per
process, not per turn. A fixed setting (`json_schema`, `json_object` or `prompt`) is never negotiated: its refusal is
the turn's error.
"""

import json
import logging
from collections.abc import Sequence
from typing import Any

from llm.reply_json import RESPONSE_FORMAT

log = logging.getLogger(__name__)

AUTO = "auto"
MODES = ("json_schema", "json_object", "prompt")  # the order `auto` tries them in
SETTINGS = (AUTO, *MODES)  # the values of LLM_STRUCTURED_OUTPUT

SCHEMA: dict[str, Any] = RESPONSE_FORMAT["json_schema"]["schema"]
JSON_OBJECT_FORMAT = {"type": "json_object", "schema": SCHEMA}
SCHEMA_INSTRUCTION = "The JSON object must match this JSON Schema: " + json.dumps(SCHEMA, separators=(",", ":"))

# (base URL, model) -> the shape to use: the first one, until a refusal moved it on. Per process, on purpose: a
# restart (a new server version, another model) negotiates again.
_kept: dict[tuple[str, str], str] = {}


def mode_for(setting: str, base_url: str, model: str) -> str:
    """The shape a reply request uses now: the fixed setting, or under `auto` the one kept for the endpoint and model
    (the first shape until one was refused)."""
    if setting != AUTO:
        return setting
    return _kept.get((base_url, model), MODES[0])


def fall_back(setting: str, base_url: str, model: str, refused: str) -> str | None:
    """After `refused` was refused for its shape: the next shape to ask with, now kept for the endpoint and model; None
    when there is none (a fixed setting, or the last shape)."""
    if setting != AUTO or refused == MODES[-1]:
        return None
    following = MODES[MODES.index(refused) + 1]
    key = (base_url, model)
    # Concurrent first turns may each learn the same refusal: the kept shape only ever moves forward.
    if MODES.index(_kept.get(key, MODES[0])) < MODES.index(following):
        _kept[key] = following
        log.warning("llm structured output", extra={"model": model, "refused": refused, "mode": following})
    return following


def forget() -> None:
    """Drop every kept shape (a process starting over; tests)."""
    _kept.clear()


def shape(body: dict[str, Any], mode: str) -> None:
    """Ask `body` (a chat completion request) for the structured reply in `mode`."""
    if mode == "json_schema":
        body["response_format"] = RESPONSE_FORMAT
    elif mode == "json_object":
        body["response_format"] = JSON_OBJECT_FORMAT
    else:
        body["messages"] = with_instruction(body["messages"])


def with_instruction(messages: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    """The messages with the schema written into the system prompt (its first message; a new one when it has none)."""
    if messages and messages[0].get("role") == "system":
        first = messages[0]
        return [{**first, "content": f"{first['content']}\n\n{SCHEMA_INSTRUCTION}"}, *messages[1:]]
    return [{"role": "system", "content": SCHEMA_INSTRUCTION}, *messages]


def conforms(value: object, schema: dict[str, Any] = SCHEMA) -> bool:
    """Whether `value` (a decoded JSON answer) matches `schema`, in the subset of JSON Schema the reply's schema uses:
    type (one or a list), enum, properties, required, additionalProperties false, items."""
    types = schema.get("type")
    if types is not None and not any(_is(value, kind) for kind in ([types] if isinstance(types, str) else types)):
        return False
    if "enum" in schema and value not in schema["enum"]:
        return False
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        if any(name not in value for name in schema.get("required", ())):
            return False
        if schema.get("additionalProperties") is False and any(name not in properties for name in value):
            return False
        return all(conforms(value[name], sub) for name, sub in properties.items() if name in value)
    if isinstance(value, list) and "items" in schema:
        return all(conforms(item, schema["items"]) for item in value)
    return True


def _is(value: object, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    python = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}[kind]
    return isinstance(value, python)
