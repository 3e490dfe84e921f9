"""All persistent data of the project. Private to `customers`: other apps see `customers.data` dataclasses only."""

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

MAX_TAGS = 20
MAX_TAG_LENGTH = 40


def validate_tags(value: object) -> None:
    """A list of at most MAX_TAGS short, non-blank strings (preferences, allergies)."""
    if not isinstance(value, list):
        raise ValidationError("Enter a list of strings.", code="invalid")
    if len(value) > MAX_TAGS:
        raise ValidationError(f"At most {MAX_TAGS} entries.", code="max_length")
    for tag in value:
        if not isinstance(tag, str) or not tag.strip():
            raise ValidationError("Each entry must be a non-blank string.", code="invalid")
        if len(tag) > MAX_TAG_LENGTH:
            raise ValidationError(f"Each entry has at most {MAX_TAG_LENGTH} characters.", code="max_length")


class Language(models.TextChoices):
    KOREAN = "ko", "Korean"
    ENGLISH = "en", "English"


class Customer(models.Model):
    """A Django user's customer profile.

    Money is integer minor units of `currency` (ISO 4217). The default, KRW, has no minor unit, so for it one minor
    unit is one won.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="customer")
    display_name = models.CharField(max_length=100)
    birth_year = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1900), MaxValueValidator(2100)]
    )
    home_area = models.CharField(max_length=100, blank=True)
    preferred_language = models.CharField(max_length=8, choices=Language.choices, default=Language.KOREAN)
    currency = models.CharField(
        max_length=3,
        default="KRW",
        validators=[RegexValidator(r"^[A-Z]{3}\Z", "Enter an ISO 4217 code such as KRW or USD.")],
    )
    monthly_limit_minor = models.BigIntegerField(default=0, validators=[MinValueValidator(0)])
    spent_this_month_minor = models.BigIntegerField(default=0, validators=[MinValueValidator(0)])
    # JSON lists rather than ArrayField so that the SQLite quick start works too.
    preferences = models.JSONField(default=list, blank=True, validators=[validate_tags])
    allergies = models.JSONField(
        default=list, blank=True, validators=[validate_tags], help_text="Allergies and dietary restrictions."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(monthly_limit_minor__gte=0), name="customer_monthly_limit_non_negative"),
            models.CheckConstraint(condition=Q(spent_this_month_minor__gte=0), name="customer_spent_non_negative"),
            models.CheckConstraint(
                condition=Q(birth_year__isnull=True) | Q(birth_year__gte=1900, birth_year__lte=2100),
                name="customer_birth_year_plausible",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def remaining_limit_minor(self) -> int:
        """What is left of the monthly limit; never negative, even when spending went over it."""
        return max(0, self.monthly_limit_minor - self.spent_this_month_minor)


class SessionStatus(models.TextChoices):
    OPEN = "open", "Open"
    ENDED = "ended", "Ended"


class ChatSession(models.Model):
    """One conversation. Its messages live in Redis (owned by `llm`); the row keeps counters and the final summary."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="sessions")
    status = models.CharField(max_length=8, choices=SessionStatus.choices, default=SessionStatus.OPEN)
    title = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_activity_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    message_count = models.IntegerField(default=0)
    prompt_tokens = models.BigIntegerField(default=0)
    completion_tokens = models.BigIntegerField(default=0)
    final_mood = models.CharField(max_length=16, blank=True)
    summary = models.TextField(blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="session_customer_newest"),
            # Partial: only open sessions are swept for idleness, and they are few next to ended ones.
            # PostgreSQL and SQLite both support partial indexes.
            models.Index(fields=["last_activity_at"], condition=Q(status="open"), name="session_open_by_activity"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=SessionStatus.values), name="session_status_known"),
            models.CheckConstraint(
                condition=Q(status=SessionStatus.OPEN) | Q(ended_at__isnull=False), name="session_ended_has_ended_at"
            ),
            models.CheckConstraint(condition=Q(message_count__gte=0), name="session_message_count_non_negative"),
            models.CheckConstraint(condition=Q(prompt_tokens__gte=0), name="session_prompt_tokens_non_negative"),
            models.CheckConstraint(
                condition=Q(completion_tokens__gte=0), name="session_completion_tokens_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return self.title or f"Session {self.id}"


class ArchivedTranscript(models.Model):
    """The messages of an ended session, kept for CHAT_ARCHIVE_DAYS days when that is above 0 (opt-in: by default
    only the summary outlives a session). Deleting the session deletes its archive; `archive_purge` removes the
    expired ones."""

    session = models.OneToOneField(
        ChatSession, on_delete=models.CASCADE, primary_key=True, related_name="archived_transcript"
    )
    # [{id, seq, role, content, tokens, created_at (ISO 8601), interrupted}], oldest first.
    messages = models.JSONField(default=list)
    archived_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"Transcript of {self.session_id}"
