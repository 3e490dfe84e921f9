"""Output serializers shared by the views (they read the frozen dataclasses of the services), the strict base of
every input serializer, and the problem shape for the schema.

Input serializers are nested in their views; they validate shape only, never decide anything.
"""

import dataclasses
import functools
import typing
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from rest_framework import serializers

from customers.services import PROPOSAL_KINDS, RATINGS, SESSION_STATUSES, CustomerProfile
from llm.services import MOODS, ROLES, Card, Constraints, Mood, Usage

# Fields the server sets. A client sending one is told so, instead of "unknown field".
READ_ONLY_NAMES = frozenset(
    {
        "id",
        "customer_id",
        "user_id",
        "role",
        "seq",
        "tokens",
        "created_at",
        "set_at",
        "source",
        "status",
        "last_activity_at",
        "message_count",
        "summary",
        "messages",
        "system_prompt",
        "usage",
        "provider",
        "interrupted",
        "recommendations",
        "rated_at",
    }
)


class StrictCharField(serializers.CharField):
    """A CharField that accepts only JSON strings (DRF's also turns numbers into text)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictInputSerializer(serializers.Serializer):
    """Refuses fields it does not declare, naming each; read-only ones get a message of their own."""

    def to_internal_value(self, data):
        extra = {}
        if isinstance(data, Mapping):
            for name in data:
                if name not in self.fields:
                    message = "This field is read-only." if name in READ_ONLY_NAMES else "Unknown field."
                    extra[name] = [message]
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if extra and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**exc.detail, **extra}) from exc
            raise
        if extra:
            raise serializers.ValidationError(extra)
        return value


class EmptyInput(StrictInputSerializer):
    """No fields: the body may be absent or `{}`."""


class BlankAsNullChoiceField(serializers.ChoiceField):
    """A choice read from a string attribute where "" means none, shown as null."""

    def __init__(self, choices, **kwargs):
        super().__init__(choices, allow_null=True, **kwargs)

    def to_representation(self, value):
        return value or None


def dataclass_out(kind: type, name: str, **declared_here: serializers.Field) -> type[serializers.Serializer]:
    """An output serializer of every field of the frozen dataclass `kind`, in its order, typed from its annotations
    (a field's `help_text` metadata documents it, its `choices` metadata makes it a choice; a nested dataclass is a
    nested `<Name>Out`), so that the shape is declared once, by the dataclass. `declared_here` gives a field a type
    richer than its annotation (a uuid)."""
    declared = {
        item.name: declared_here.get(item.name)
        or _field_for(hints[item.name], help_text=item.metadata.get("help_text"), choices=item.metadata.get("choices"))
        for hints in [typing.get_type_hints(kind)]
        for item in dataclasses.fields(kind)
    }
    return type(name, (serializers.Serializer,), {"__module__": __name__, **declared})


@functools.cache
def _nested_out(kind: type) -> type[serializers.Serializer]:
    return dataclass_out(kind, f"{kind.__name__}Out")


def _field_for(
    annotation: object, *, help_text: str | None, choices: tuple[str, ...] | None = None
) -> serializers.Field:
    options: dict[str, object] = {"help_text": help_text} if help_text else {}
    if choices is not None:
        return serializers.ChoiceField(choices, **options)
    args = typing.get_args(annotation)
    if type(None) in args:  # `X | None`
        [annotation] = [arg for arg in args if arg is not type(None)]
        options["allow_null"] = True
    if typing.get_origin(annotation) is tuple and typing.get_args(annotation)[1:] == (Ellipsis,):
        return serializers.ListField(child=_field_for(typing.get_args(annotation)[0], help_text=None), **options)
    if dataclasses.is_dataclass(annotation):
        return _nested_out(annotation)(**options)
    if annotation not in _FIELDS:
        raise TypeError(f"no serializer field for {annotation!r}")
    return _FIELDS[annotation](**options)


_FIELDS: dict[object, type[serializers.Field]] = {
    bool: serializers.BooleanField,
    int: serializers.IntegerField,
    str: serializers.CharField,
    datetime: serializers.DateTimeField,
}


ConstraintsOut = dataclass_out(Constraints, "ConstraintsOut")
CardOut = dataclass_out(
    Card,
    "CardOut",
    id=serializers.UUIDField(help_text="The recommendation's id: POST /api/v1/recommendations/{id}/feedback rates it."),
)


class MessageOut(serializers.Serializer):
    id = serializers.CharField()
    seq = serializers.IntegerField(help_text="1, 2, 3… within the session, with no gaps.")
    role = serializers.ChoiceField(ROLES)
    content = serializers.CharField()
    created_at = serializers.DateTimeField()
    tokens = serializers.IntegerField(help_text="Tokens the message costs in a prompt.")
    interrupted = serializers.BooleanField(
        required=False, help_text="Present (true) only when the reply was cut short and stored as it was."
    )
    recommendations = CardOut(
        many=True, help_text="An assistant message's cards: catalog items that passed every check (possibly none)."
    )

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not data.get("interrupted"):
            data.pop("interrupted", None)
        return data


class MessageListOut(serializers.Serializer):
    results = MessageOut(many=True)


MoodOut = dataclass_out(Mood, "MoodOut")
UsageOut = dataclass_out(Usage, "UsageOut")


class TurnOut(serializers.Serializer):
    user_message = MessageOut()
    assistant_message = MessageOut()
    mood = MoodOut(allow_null=True)
    recommendations = CardOut(many=True, help_text="The reply's cards (also on `assistant_message`).")
    usage = UsageOut()
    provider = serializers.CharField(help_text="Which provider answered: `openai` or `offline`.")
    constraints = ConstraintsOut(help_text="The session's constraints after the turn (what it stated added).")


class FeedbackOut(serializers.Serializer):
    """Reads a `customers.services.RecommendationRating`."""

    id = serializers.UUIDField(source="recommendation_id")
    rating = serializers.ChoiceField(RATINGS)
    note = serializers.CharField(allow_blank=True)
    rated_at = serializers.DateTimeField()


class SessionOut(serializers.Serializer):
    """Reads a `chat.lifecycle.SessionView`."""

    id = serializers.UUIDField(source="info.session_id")
    status = serializers.ChoiceField(SESSION_STATUSES, source="info.status")
    title = serializers.CharField(source="info.title")
    mood = BlankAsNullChoiceField(MOODS)
    created_at = serializers.DateTimeField(source="info.created_at")
    last_activity_at = serializers.DateTimeField(source="info.last_activity_at")
    message_count = serializers.IntegerField(source="info.message_count")


class SessionDetailOut(SessionOut):
    summary = serializers.CharField(
        allow_null=True, help_text="The stored summary of an ended session; null while the session is open."
    )
    messages = MessageOut(many=True, help_text="The live messages of an open session; empty once it has ended.")
    constraints = ConstraintsOut(help_text="What the customer stated in the session (empty once it has ended).")


class SessionPageOut(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = SessionOut(many=True)


ProfileOut = dataclass_out(CustomerProfile, "ProfileOut")


class ProposalOut(serializers.Serializer):
    """Reads a `customers.services.ProfileProposal`."""

    id = serializers.UUIDField(
        source="proposal_id", help_text="POST /api/v1/me/proposals/{id}/accept or .../decline decides it."
    )
    kind = serializers.ChoiceField(PROPOSAL_KINDS)
    code = serializers.CharField(help_text="An allergen code (kind `allergy`) or a diet code (kind `diet`).")
    session_id = serializers.UUIDField(
        allow_null=True, help_text="The session it was stated in; null once that session is deleted."
    )
    stated_at = serializers.DateTimeField()


class MeOut(ProfileOut):
    """Reads a `customers.services.CustomerMe`: the profile's fields, then the pending proposals."""

    proposals = ProposalOut(
        many=True,
        help_text="Allergies and diets you stated in a chat, awaiting your confirmation, oldest first: they bind "
        "every session of yours until you decline them.",
    )

    def to_representation(self, instance):
        proposal = _bound(ProposalOut)
        return {
            **_bound(ProfileOut).to_representation(instance.profile),
            "proposals": [proposal.to_representation(item) for item in instance.proposals],
        }


def rendered(kind: type[serializers.Serializer], instance: object) -> dict[str, Any]:
    """What `kind(instance).data` is, from one instance of `kind` per process: DRF deep-copies every declared field
    into each new serializer (a turn with two cards has about 80), which costs more than reading the values. The
    output serializers here hold no per-call state (no context, no validation), so one instance serves every
    request and thread."""
    return _bound(kind).to_representation(instance)


@functools.cache
def _bound(kind: type[serializers.Serializer]) -> serializers.Serializer:
    serializer = kind()
    serializer.fields  # noqa: B018 - binds the fields now, not in the first two concurrent requests
    return serializer


class ProblemOut(serializers.Serializer):
    """RFC 9457 problem details."""

    type = serializers.CharField(help_text="`https://chatbot.example/problems/<code>`")
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField(help_text="Stable machine-readable code, e.g. `session_ended`.")
    errors = serializers.JSONField(required=False, help_text="Field errors of an `invalid_request`.")
