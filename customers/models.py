"""All persistent data of the project. Private to `customers`: other apps see `customers.data` dataclasses only."""

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from customers.catalog.vocabulary import ALLERGENS, CURRENCY_CODE, DIETS
from customers.catalog.vocabulary import unknown as vocabulary_unknown
from customers.spending import MONTH, remaining, this_month

MAX_TAGS = 20
MAX_TAG_LENGTH = 40


validate_currency = RegexValidator(CURRENCY_CODE, "Enter an ISO 4217 code such as KRW or USD.")


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


def _validate_codes(value: object, vocabulary: tuple[str, ...], what: str) -> None:
    if not isinstance(value, list) or not all(isinstance(code, str) for code in value):
        raise ValidationError("Enter a list of codes.", code="not_codes")  # "invalid" would read "not valid JSON"
    if bad := vocabulary_unknown(value, vocabulary):
        raise ValidationError(
            f"Unknown {what} code(s): {', '.join(map(str, bad))}. Known: {', '.join(vocabulary)}.", code="unknown_code"
        )
    if len(set(value)) != len(value):
        raise ValidationError("Each code at most once.", code="repeated_code")


def validate_allergen_codes(value: object) -> None:
    _validate_codes(value, ALLERGENS, "allergen")


def validate_diet_codes(value: object) -> None:
    _validate_codes(value, DIETS, "diet")


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
        validators=[validate_currency],
    )
    monthly_limit_minor = models.BigIntegerField(default=0, validators=[MinValueValidator(0)])
    spent_this_month_minor = models.BigIntegerField(
        default=0,
        validators=[MinValueValidator(0)],
        help_text="What the customer spent in `spent_month`; it counts in that month only (0 after it).",
    )
    spent_month = models.CharField(
        max_length=7,
        default=this_month,
        validators=[RegexValidator(rf"^{MONTH.pattern}\Z", "Enter a month as YYYY-MM.")],
        help_text="The month (YYYY-MM, in BUDGET_TIMEZONE) the spending belongs to.",
    )
    # JSON lists rather than ArrayField so that the SQLite quick start works too.
    preferences = models.JSONField(default=list, blank=True, validators=[validate_tags])
    allergies = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_allergen_codes],
        help_text="Allergen codes (peanut, tree_nut, milk, ...): no item containing one is ever recommended.",
    )
    diets = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_diet_codes],
        help_text="Diet codes (vegetarian, vegan, halal, gluten_free): every food item recommended satisfies all.",
    )
    dietary_notes = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_tags],
        help_text="Allergies or restrictions that no code covers (unverified: the rules cannot check them).",
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
        """What is left of this month's limit; never negative, even when spending went over it."""
        return remaining(self.monthly_limit_minor, self.spent_this_month_minor, self.spent_month)


class SessionStatus(models.TextChoices):
    OPEN = "open", "Open"
    ENDED = "ended", "Ended"


# What a profile update (a service call or the admin's form) may set: every field of the customer but its id, user
# and timestamps, in their declared order.
PROFILE_FIELDS = tuple(
    field.name
    for field in Customer._meta.concrete_fields
    if field.name not in {"id", "user", "created_at", "updated_at"}
)


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
    # [{id, seq, role, content, tokens, created_at (ISO 8601), interrupted, recommendations}], oldest first.
    messages = models.JSONField(default=list)
    archived_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"Transcript of {self.session_id}"


# --- catalog ---------------------------------------------------------------------------------------------------


class ItemKind(models.TextChoices):
    RESTAURANT = "restaurant", "Restaurant"
    DISH = "dish", "Dish"
    PRODUCT = "product", "Product"
    ACTIVITY = "activity", "Activity"
    PLACE = "place", "Place"


class CatalogItem(models.Model):
    """Something that can be recommended. `tags`, `allergens` and `diets` are JSON lists for display; the hard rules
    read the bitmasks, kept equal to the lists by `save()` and the importer (`customers.catalog.items.derived`).

    `allergens` null is unknown (nothing declared: not "free of"), `[]` declares none; `mentions` are the allergens
    the item's own name, description and tags mention, which bind like declared ones. A dish's `venue` is the
    restaurant serving it: a restaurant with active dishes is judged by them too (customers/catalog/search.py).

    `keywords` is the searchable text (name, tags, area, kind); on PostgreSQL a generated `search_vector` column
    (config 'simple': Korean has no stemmer) and trigram indexes serve the candidates search (migration 0002).
    A null price means none is charged (a park, a street): it passes every budget.
    """

    external_id = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=16, choices=ItemKind.choices)
    name = models.CharField(max_length=200)
    description = models.TextField(max_length=2000, blank=True)
    area = models.CharField(max_length=100, blank=True)
    price_minor = models.BigIntegerField(null=True, blank=True, validators=[MinValueValidator(0)])
    currency = models.CharField(
        max_length=3,
        default="KRW",
        validators=[validate_currency],
    )
    tags = models.JSONField(default=list, blank=True, validators=[validate_tags])
    allergens = models.JSONField(
        null=True,
        blank=True,
        default=None,
        validators=[validate_allergen_codes],
        help_text="Allergen codes the item contains ([] declares none); null: unknown, not declared.",
    )
    diets = models.JSONField(default=list, blank=True, validators=[validate_diet_codes])
    food = models.BooleanField(default=True, help_text="Whether diet rules apply (stricter when in doubt).")
    active = models.BooleanField(default=True)
    venue = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="dishes",
        limit_choices_to={"kind": "restaurant"},
        help_text="A dish's restaurant.",
    )
    mentions = models.JSONField(default=list, editable=False)
    allergen_mask = models.IntegerField(default=0, editable=False)
    diet_mask = models.IntegerField(default=0, editable=False)
    keywords = models.TextField(blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["area"], condition=Q(active=True), name="catalog_active_by_area"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(price_minor__gte=0), name="catalog_price_non_negative"),
            models.CheckConstraint(condition=Q(kind__in=ItemKind.values), name="catalog_kind_known"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.external_id})"

    def save(self, *args: object, **kwargs: object) -> None:
        from customers.catalog.items import derived

        values = derived(**{name: getattr(self, name) for name in DERIVED_FROM})
        for name, value in values.items():
            setattr(self, name, value)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            kwargs["update_fields"] = {*update_fields, *values, "updated_at"}
        super().save(*args, **kwargs)


# The fields a catalog file and the admin's form set, besides `external_id` (the derived ones follow from them).
CATALOG_ITEM_FIELDS = (
    "kind",
    "name",
    "description",
    "area",
    "price_minor",
    "currency",
    "tags",
    "allergens",
    "diets",
    "food",
    "active",
    "venue",
)
# The fields the derived columns are computed from (`customers.catalog.items.derived`).
DERIVED_FROM = ("name", "kind", "area", "description", "tags", "allergens", "diets", "food")


class Rating(models.TextChoices):
    UP = "up", "Up"
    DOWN = "down", "Down"


class Recommendation(models.Model):
    """A catalog item shown to a customer in a session, with why, and the customer's rating of it (if any)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="recommendations")
    session = models.ForeignKey(ChatSession, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # An item shown to someone is never deleted (its ratings would go, and a re-import of its external_id would
    # bring a down-rated item back as a new row): deactivate it instead. The import upserts by external_id, so the
    # row, and the ratings keyed by it, outlive any re-import.
    item = models.ForeignKey(CatalogItem, on_delete=models.PROTECT, related_name="recommendations")
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    rating = models.CharField(max_length=4, choices=Rating.choices, blank=True)  # "": not rated
    note = models.CharField(max_length=500, blank=True)
    rated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="recommendation_customer_newest"),
            # The candidates search excludes the items a customer rated down and boosts the ones rated up.
            models.Index(fields=["customer", "item"], condition=~Q(rating=""), name="recommendation_rated"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(rating="") | Q(rating__in=Rating.values), name="recommendation_rating_known"
            ),
            models.CheckConstraint(
                condition=Q(rating="") | Q(rated_at__isnull=False), name="recommendation_rated_has_time"
            ),
        ]

    def __str__(self) -> str:
        return f"Recommendation {self.id}"


# --- profile memory --------------------------------------------------------------------------------------------


class ProposalKind(models.TextChoices):
    ALLERGY = "allergy", "Allergy"
    DIET = "diet", "Diet"


class ProposalStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"


class ProfileProposal(models.Model):
    """An allergy or diet the customer stated in a session (their words or the model's `noted`), proposed for their
    profile. While pending it binds every session of theirs; accepting moves the code into the profile, declining
    drops it. At most one pending proposal per (customer, kind, code): the partial unique constraint, which the
    turn's INSERT ... ON CONFLICT DO NOTHING relies on under concurrency."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="proposals")
    kind = models.CharField(max_length=8, choices=ProposalKind.choices)
    code = models.CharField(max_length=32)
    session = models.ForeignKey(ChatSession, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    stated_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=8, choices=ProposalStatus.choices, default=ProposalStatus.PENDING)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "kind", "code"],
                condition=Q(status="pending"),
                name="proposal_one_pending_per_code",
            ),
            models.CheckConstraint(condition=Q(kind__in=ProposalKind.values), name="proposal_kind_known"),
            models.CheckConstraint(condition=Q(status__in=ProposalStatus.values), name="proposal_status_known"),
            models.CheckConstraint(
                condition=Q(status="pending") | Q(decided_at__isnull=False), name="proposal_decided_has_time"
            ),
        ]
        indexes = [
            # A session's declined codes are not proposed again from it (the turn's INSERT looks them up).
            models.Index(
                fields=["session", "kind", "code"], condition=Q(status="declined"), name="proposal_declined_in_session"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.code} ({self.status})"


class ChangeSource(models.TextChoices):
    CUSTOMER = "customer", "Customer"
    STAFF = "staff", "Staff"


class ProfileChange(models.Model):
    """One change of a customer's allergies, diets, dietary notes or preferences: who made it (the customer through
    the API, or staff), when, and the fields before and after (only the fields that changed)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="profile_changes")
    changed_at = models.DateTimeField(default=timezone.now)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    source = models.CharField(max_length=8, choices=ChangeSource.choices)
    # What moved it: "edit" (PATCH /me or the admin's form), "accept" or "decline" of a proposal.
    action = models.CharField(max_length=16)
    before = models.JSONField(default=dict)
    after = models.JSONField(default=dict)

    class Meta:
        indexes = [models.Index(fields=["customer", "-changed_at"], name="profile_change_customer_newest")]

    def __str__(self) -> str:
        return f"{self.action} by {self.source} at {self.changed_at:%Y-%m-%d %H:%M}"
