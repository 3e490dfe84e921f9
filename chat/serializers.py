"""Output serializers shared by the views (they read the frozen dataclasses of the services), the strict base of
every input serializer, and the problem shape for the schema.

Input serializers are nested in their views; they validate shape only, never decide anything.
"""

from collections.abc import Mapping

from rest_framework import serializers

from llm.data import MOODS

ROLES = ("user", "assistant")
MOOD_SOURCES = ("user", "inferred")
SESSION_STATUSES = ("open", "ended")

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

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if not data.get("interrupted"):
            data.pop("interrupted", None)
        return data


class MessageListOut(serializers.Serializer):
    results = MessageOut(many=True)


class MoodOut(serializers.Serializer):
    mood = serializers.ChoiceField(MOODS)
    source = serializers.ChoiceField(MOOD_SOURCES)
    set_at = serializers.DateTimeField()


class UsageOut(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()


class TurnOut(serializers.Serializer):
    user_message = MessageOut()
    assistant_message = MessageOut()
    mood = MoodOut(allow_null=True)
    usage = UsageOut()
    provider = serializers.CharField(help_text="Which provider answered: `openai` or `offline`.")


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


class SessionPageOut(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = SessionOut(many=True)


class ProfileOut(serializers.Serializer):
    customer_id = serializers.IntegerField()
    username = serializers.CharField()
    display_name = serializers.CharField()
    birth_year = serializers.IntegerField(allow_null=True)
    home_area = serializers.CharField()
    preferred_language = serializers.CharField()
    currency = serializers.CharField()
    monthly_limit_minor = serializers.IntegerField(help_text="In minor units of `currency`.")
    spent_this_month_minor = serializers.IntegerField()
    remaining_limit_minor = serializers.IntegerField()
    preferences = serializers.ListField(child=serializers.CharField())
    allergies = serializers.ListField(child=serializers.CharField(), help_text="Allergen codes.")
    diets = serializers.ListField(child=serializers.CharField(), help_text="Diet codes.")
    dietary_notes = serializers.ListField(
        child=serializers.CharField(), help_text="Restrictions that no code covers (unverified)."
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ProblemOut(serializers.Serializer):
    """RFC 9457 problem details."""

    type = serializers.CharField(help_text="`https://chatbot.example/problems/<code>`")
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField(help_text="Stable machine-readable code, e.g. `session_ended`.")
    errors = serializers.JSONField(required=False, help_text="Field errors of an `invalid_request`.")
