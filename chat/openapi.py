"""OpenAPI pieces shared by the views: the schema decorators of a customer endpoint (`endpoint_schema`,
`body_endpoint_schema`, `request_example`), the AutoSchema that reads an operation's summary from its method's
docstring, problem responses, the Idempotency-Key header, the SSE variant, and the security schemes of chat's
authentication classes (drf-spectacular extensions, loaded from `ChatConfig.ready`).
"""

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import get_doc
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
)

from chat.errors import Problem
from chat.problems import PROBLEM_CONTENT_TYPE, PROBLEMS, example_detail
from chat.serializers import ProblemOut
from chat.sse import CONTENT_TYPE as SSE_CONTENT_TYPE

AUTH_PROBLEMS = ("not_authenticated", "permission_denied")
# Every customer endpoint is throttled: turns by their admission, the others by chat.throttling.
SESSION_PROBLEMS = (*AUTH_PROBLEMS, "not_found", "service_unavailable", "throttled")
# What a model call may fail with.
MODEL_PROBLEMS = ("llm_bad_response", "llm_rejected", "llm_unavailable", "llm_timeout")
TURN_PROBLEMS = (
    *SESSION_PROBLEMS,
    "invalid_request",
    "session_ended",
    "turn_in_progress",
    "idempotency_conflict",
    *MODEL_PROBLEMS,
)


def problem_responses(*codes: str) -> dict:
    """`extend_schema(responses=...)` entries for these problem codes, one per status, each code an example."""
    by_status: dict[int, list[str]] = defaultdict(list)
    for code in dict.fromkeys(codes):
        by_status[PROBLEMS[code].status].append(code)
    return {
        (status, PROBLEM_CONTENT_TYPE): OpenApiResponse(
            response=ProblemOut,
            description="Problem details; `code`: " + ", ".join(f"`{code}`" for code in status_codes),
            examples=[
                OpenApiExample(
                    code,
                    value=Problem(code, example_detail(code)).body(),
                    media_type=PROBLEM_CONTENT_TYPE,
                    status_codes=[status],
                    response_only=True,
                )
                for code in status_codes
            ],
        )
        for status, status_codes in sorted(by_status.items())
    }


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="1 to 128 visible ASCII characters. A retry with the same key answers the first turn again "
    "(same body, header `Idempotent-Replayed: true`) without a second model call. If the first attempt failed "
    "after your message was saved, the retry answers that saved message instead of storing it twice. The same key "
    "with a different body, or a retry of a failed turn after the conversation has moved on, is a 422 "
    "`idempotency_conflict`.",
    pattern=r"^[\x21-\x7E]{1,128}$",
)

IF_MATCH_SEQ = OpenApiParameter(
    "If-Match",
    str,
    OpenApiParameter.HEADER,
    description="The seq of the message you expect last (the reply to replace, or your unanswered message), e.g. "
    '`"2"`: if the session has moved on since, 409 `conversation_moved_on` and nothing changes. The same as the body '
    "field `seq`; give either, or both with the same value.",
)

IDEMPOTENT_REPLAYED = OpenApiParameter(
    "Idempotent-Replayed",
    str,
    OpenApiParameter.HEADER,
    description="`true` when this answer replays an earlier request with the same Idempotency-Key.",
    enum=["true"],
    response=[201],
)

RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    int,
    OpenApiParameter.HEADER,
    description="Seconds to wait before trying again (429 `throttled`; 503 `llm_unavailable` when rate limited).",
    response=[429, 503],
)


def endpoint_schema(
    operation_id: str,
    *,
    ok: dict,
    also: Sequence[str] = (),
    problems: Sequence[str] = SESSION_PROBLEMS,
    parameters: Sequence[Any] = (),
    **more: Any,
):
    """`extend_schema` for one customer endpoint: its success responses (`ok`) and its problems (`problems` and
    `also`). Every customer endpoint is throttled, so Retry-After closes its parameters. Its summary and description
    come from the method's docstring (ChatAutoSchema); `more`: the rest of `extend_schema`'s arguments."""
    return extend_schema(
        operation_id=operation_id,
        parameters=[*parameters, RETRY_AFTER],
        responses={**ok, **problem_responses(*problems, *also)},
        **more,
    )


def body_endpoint_schema(operation_id: str, *, body: Any, also: Sequence[str] = (), **more: Any):
    """`endpoint_schema` for an endpoint that reads a JSON body: `body`, its serializer (None: it must be empty; a
    serializer's example: `request_example`). The body may be refused as invalid_request or unsupported_media_type."""
    return endpoint_schema(
        operation_id, also=(*also, "invalid_request", "unsupported_media_type"), request=body, **more
    )


def request_example(name: str, value: dict):
    """Class decorator for an input serializer: `value`, named `name`, is its example request body."""
    return extend_schema_serializer(examples=[OpenApiExample(name, value=value, request_only=True)])


class ChatAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema with an operation's summary read from the first paragraph of its method's
    docstring (without the closing period), and its description from the paragraphs after it, else from its view's
    docstring: what a method does is written once, where its code is. `extend_schema(summary=..., description=...)`
    still wins."""

    def get_summary(self) -> str | None:
        return " ".join(self._method_doc()[0].split()).removesuffix(".") or None

    def get_description(self) -> str:
        paragraphs = self._method_doc()[1].split("\n\n")
        return "\n\n".join(" ".join(p.split()) for p in paragraphs if p.strip()) or get_doc(self.view.__class__)

    def _method_doc(self) -> tuple[str, str]:
        method = getattr(self.view, getattr(self.view, "action", self.method.lower()), None)
        summary, _, rest = get_doc(method).partition("\n\n")
        return summary, rest


SSE_EXAMPLE = (
    "event: delta\n"
    'data: {"text":"Hello Alice! "}\n\n'
    ": ping\n\n"
    "event: delta\n"
    'data: {"text":"How about a spicy tofu stew tonight?"}\n\n'
    "event: done\n"
    'data: {"user_message":{"id":"m-1","seq":1,"role":"user","content":"Dinner ideas?",'
    '"created_at":"2026-11-26T09:00:00Z","tokens":9},"assistant_message":{"id":"m-2","seq":2,'
    '"role":"assistant","content":"Hello Alice! How about a spicy tofu stew tonight?",'
    '"created_at":"2026-11-26T09:00:02Z","tokens":18},"mood":null,'
    '"usage":{"prompt_tokens":412,"completion_tokens":14,"source":"server"},"provider":"openai"}\n\n'
)

SSE_RESPONSE = OpenApiResponse(
    response=OpenApiTypes.STR,
    description="With `Accept: text/event-stream`: `delta` events `{text}` as the model produces them, then one "
    "`done` event holding the turn, or one `error` event holding a problem (the message was saved when the "
    "model failed). `: ping` comment lines keep the connection alive while waiting. A client that disconnects "
    "loses nothing: the reply is completed, stored and listed in the session's messages.",
    examples=[
        OpenApiExample("stream", value=SSE_EXAMPLE, media_type=SSE_CONTENT_TYPE, status_codes=[200], response_only=True)
    ],
)


class CachedTokenScheme(OpenApiAuthenticationExtension):
    target_class = "chat.authentication.CachedTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": 'API token with the prefix "Token", e.g. `Authorization: Token 9944b0…`',
        }


class CustomerSessionScheme(OpenApiAuthenticationExtension):
    target_class = "chat.authentication.CustomerSessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": settings.SESSION_COOKIE_NAME}
