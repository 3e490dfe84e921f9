import re
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID

from django.conf import settings
from django.http import StreamingHttpResponse
from django.urls import reverse
from rest_framework import serializers
from rest_framework.exceptions import APIException
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from chat import lifecycle, sse, turns
from chat.errors import ChatError, model_failure_problem
from chat.openapi import (
    IDEMPOTENCY_KEY,
    IDEMPOTENT_REPLAYED,
    IF_MATCH_SEQ,
    SSE_RESPONSE,
    TURN_PROBLEMS,
    body_endpoint_schema,
    endpoint_schema,
    request_example,
)
from chat.serializers import MessageListOut, StrictCharField, StrictInputSerializer, TurnOut, rendered
from chat.views.base import CustomerApi
from llm.services import ModelError, Turn

_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,128}")


class EventStreamRenderer(BaseRenderer):
    """Lets content negotiation accept `Accept: text/event-stream`; the view then answers with a stream itself."""

    media_type = sse.CONTENT_TYPE
    format = "event-stream"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        raise TypeError("event streams are written by the view, never rendered from data")


class SessionMessagesApi(CustomerApi):
    turn_methods = frozenset({"POST"})  # a send; the GET (the list) is a read

    @request_example("a message", {"content": "Any dinner ideas for tonight?"})
    class MessageCreateInput(StrictInputSerializer):
        content = StrictCharField(help_text="The customer's message: not blank, at most CHAT_MAX_MESSAGE_CHARS.")

    def get_renderers(self):
        renderers = super().get_renderers()
        if getattr(self, "request", None) is not None and self.request.method == "POST":
            renderers.append(EventStreamRenderer())
        return renderers

    @endpoint_schema("sessions_messages_list", ok={200: MessageListOut}, tags=["messages"])
    def get(self, request: Request, session_id: UUID) -> Response:
        """The session's messages, oldest first.

        An open session's live messages. Once ended, its archived transcript while the opt-in archive keeps it
        (CHAT_ARCHIVE_DAYS above 0), else an empty list: the summary replaces the messages.
        """
        messages = lifecycle.session_messages_get(customer_id=self.customer_id, session_id=session_id)
        return Response(rendered(MessageListOut, {"results": messages}))

    @body_endpoint_schema(
        "sessions_messages_create",
        body=MessageCreateInput,
        parameters=[IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED],
        ok={(201, "application/json"): TurnOut, (200, sse.CONTENT_TYPE): SSE_RESPONSE},
        problems=TURN_PROBLEMS,
        also=["message_too_long"],
        tags=["messages"],
    )
    def post(self, request: Request, session_id: UUID) -> Response | StreamingHttpResponse:
        """Send a message and get the reply (JSON, or Server-Sent Events with `Accept: text/event-stream`)."""
        with _counted_when_refused(self.customer_id):
            content = self.validated_body(self.MessageCreateInput)["content"]
            if len(content) > settings.CHAT_MAX_MESSAGE_CHARS:
                raise ChatError(
                    "message_too_long", f"The message is longer than {settings.CHAT_MAX_MESSAGE_CHARS} characters."
                )
            key = _idempotency_key(request)
        if request.accepted_renderer.media_type == sse.CONTENT_TYPE:
            context = turns.turn_prepare(
                customer_id=self.customer_id, session_id=session_id, idempotency_key=key, text=content
            )
            stream = turns.turn_send_stream(
                session_id=session_id,
                text=content,
                context=context,
                idempotency_key=key,
                idle_seconds=settings.CHAT_SSE_HEARTBEAT_SECONDS,
            )
            return sse.turn_event_response(stream, retry_hint=_retry_hint(session_id))
        with _model_failures_explained(session_id):
            turn = turns.turn_send(
                customer_id=self.customer_id, session_id=session_id, text=content, idempotency_key=key
            )
        return _turn_response(turn)


class SessionRegenerateApi(CustomerApi):
    turn_methods = frozenset({"POST"})

    @request_example("replace reply 2", {"seq": 2})
    class RegenerateInput(StrictInputSerializer):
        seq = serializers.IntegerField(
            min_value=1,
            max_value=2**53,
            required=False,
            help_text="The seq of the message you expect last (the reply to replace, or your unanswered message): "
            "if the session has moved on since, 409 `conversation_moved_on`. Or send it as `If-Match`.",
        )

    @body_endpoint_schema(
        "sessions_regenerate",
        body=RegenerateInput,
        parameters=[IDEMPOTENCY_KEY, IF_MATCH_SEQ, IDEMPOTENT_REPLAYED],
        ok={201: TurnOut},
        problems=TURN_PROBLEMS,
        also=["nothing_to_regenerate", "conversation_moved_on"],
        tags=["messages"],
    )
    def post(self, request: Request, session_id: UUID) -> Response:
        """Answer the last user message again (after a failed or unwanted reply)."""
        with _counted_when_refused(self.customer_id):
            data = self.validated_body(self.RegenerateInput)
            expected = _expected_seq(request, data.get("seq"))
            key = _idempotency_key(request)
        with _model_failures_explained(session_id):
            turn = turns.turn_regenerate(
                customer_id=self.customer_id, session_id=session_id, idempotency_key=key, expected_seq=expected
            )
        return _turn_response(turn)


_IF_MATCH_SEQ = re.compile(r'"?([1-9][0-9]{0,15})"?')


def _expected_seq(request: Request, body_seq: int | None) -> int | None:
    """The seq from the body or from `If-Match` (a quoted or bare positive integer); both must agree."""
    header = request.headers.get("If-Match")
    if header is None:
        return body_seq
    match = _IF_MATCH_SEQ.fullmatch(header.strip())
    if match is None:
        raise serializers.ValidationError({"If-Match": ['Must be the seq you expect last, e.g. "2".']})
    seq = int(match.group(1))
    if body_seq is not None and body_seq != seq:
        raise serializers.ValidationError({"If-Match": ["Must name the same seq as the body's `seq`."]})
    return seq


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not _IDEMPOTENCY_KEY.fullmatch(key):
        raise serializers.ValidationError({"Idempotency-Key": ["Must be 1 to 128 visible ASCII characters."]})
    return key


@contextmanager
def _counted_when_refused(customer_id: int) -> Iterator[None]:
    """A turn request refused for its body or headers counts one turn all the same: a stream of bad requests
    spends the turn rate like a stream of turns, then answers 429."""
    try:
        yield
    except (APIException, ChatError):
        turns.turn_attempt_count(customer_id=customer_id)
        raise


@contextmanager
def _model_failures_explained(session_id: UUID) -> Iterator[None]:
    try:
        yield
    except ModelError as exc:
        raise model_failure_problem(exc, retry_hint=_retry_hint(session_id)) from exc


def _retry_hint(session_id: UUID) -> str:
    return f"POST {reverse('chat:session-regenerate', kwargs={'session_id': session_id})} to retry."


def _turn_response(turn: Turn) -> Response:
    headers = {"Idempotent-Replayed": "true"} if turn.replayed else None
    return Response(rendered(TurnOut, turn), status=201, headers=headers)
