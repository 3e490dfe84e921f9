"""Recommendation rows: what was shown to a customer (item, reason, session) and how they rated it."""

from collections.abc import Sequence
from datetime import timedelta
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from customers.data import RecentTastes, RecommendationInfo, RecommendationRating
from customers.errors import InvalidInput, RecommendationNotFound
from customers.models import CatalogItem, Customer, Rating, Recommendation

MAX_REASON = Recommendation._meta.get_field("reason").max_length
MAX_NOTE = Recommendation._meta.get_field("note").max_length
_FIELDS = (
    "id",
    "customer_id",
    "session_id",
    "item__external_id",
    "item__kind",
    "item__name",
    "item__area",
    "item__price_minor",
    "item__currency",
    "item__tags",
    "reason",
    "created_at",
    "rating",
    "note",
    "rated_at",
)


def record(
    *,
    customer_id: int,
    session_id: UUID | None,
    shown: Sequence[tuple[str, str]],
    ids: Sequence[UUID | str] | None = None,
) -> tuple[RecommendationInfo, ...]:
    """Write one row per (external_id, reason) shown, in order; `ids`, if given, are the rows' uuids (chosen by the
    caller, e.g. already stored with the message that shows them). Raises InvalidInput for an unknown item id."""
    if not shown:
        return ()
    if ids is not None and len(ids) != len(shown):
        raise InvalidInput("one id per recommendation shown")
    external_ids = [external_id for external_id, _ in shown]
    items = dict(CatalogItem.objects.filter(external_id__in=external_ids).values_list("external_id", "pk"))
    if missing := [external_id for external_id in external_ids if external_id not in items]:
        raise InvalidInput(f"unknown catalog item: {missing[0]}")
    now = timezone.now()
    rows = [
        Recommendation(
            **({"id": UUID(str(ids[position]))} if ids else {}),
            customer_id=customer_id,
            session_id=session_id,
            item_id=items[external_id],
            reason=reason.strip()[:MAX_REASON],
            created_at=now + timedelta(microseconds=position),  # shown order is creation order
        )
        for position, (external_id, reason) in enumerate(shown)
    ]
    with transaction.atomic():
        if not Customer.objects.filter(pk=customer_id).exists():
            raise InvalidInput(f"unknown customer {customer_id}")
        Recommendation.objects.bulk_create(rows)
    return list_(customer_id=customer_id, ids=[row.pk for row in rows])


def list_(
    *, customer_id: int, session_id: UUID | None = None, ids: Sequence[UUID] | None = None, limit: int = 100
) -> tuple[RecommendationInfo, ...]:
    """The customer's recommendations, oldest first (by creation, then id), optionally of one session or ids."""
    rows = Recommendation.objects.filter(customer_id=customer_id)
    if session_id is not None:
        rows = rows.filter(session_id=session_id)
    if ids is not None:
        rows = rows.filter(pk__in=list(ids))
    found = rows.order_by("created_at", "id").values(*_FIELDS)[:limit]
    infos = [_info(row) for row in found]
    if ids is not None:  # the order they were given in
        position = {value: i for i, value in enumerate(ids)}
        infos.sort(key=lambda info: position[info.recommendation_id])
    return tuple(infos)


def rate(*, customer_id: int, recommendation_id: UUID, rating: str, note: str = "") -> RecommendationRating:
    """Rate (or re-rate: the new rating replaces the old) a recommendation shown to this customer.

    Raises RecommendationNotFound when it is absent or another customer's, InvalidInput for a bad rating or note.
    """
    if rating not in Rating.values:
        raise InvalidInput(f"rating must be one of {', '.join(Rating.values)}")
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise InvalidInput(f"note must be a string of at most {MAX_NOTE} characters")
    now = timezone.now()
    updated = Recommendation.objects.filter(pk=recommendation_id, customer_id=customer_id).update(
        rating=rating, note=note.strip(), rated_at=now
    )
    if not updated:
        raise RecommendationNotFound(f"recommendation {recommendation_id} not found")
    return RecommendationRating(recommendation_id=recommendation_id, rating=rating, note=note.strip(), rated_at=now)


def recent_tastes(*, customer_id: int, limit: int = 5) -> RecentTastes:
    """The names of the items the customer rated up and down lately (each list newest first, at most `limit`)."""
    rows = (
        Recommendation.objects.filter(customer_id=customer_id)
        .exclude(rating="")
        .order_by("-rated_at")
        .values_list("rating", "item__name")[: limit * 4]
    )
    liked: dict[str, None] = {}
    disliked: dict[str, None] = {}
    for rating, name in rows:
        target = liked if rating == Rating.UP else disliked
        if len(target) < limit:
            target[name] = None
    return RecentTastes(liked=tuple(liked), disliked=tuple(disliked))


def _info(row: dict) -> RecommendationInfo:
    return RecommendationInfo(
        recommendation_id=row["id"],
        customer_id=row["customer_id"],
        session_id=row["session_id"],
        external_id=row["item__external_id"],
        kind=row["item__kind"],
        name=row["item__name"],
        area=row["item__area"],
        price_minor=row["item__price_minor"],
        currency=row["item__currency"],
        tags=tuple(row["item__tags"]),
        reason=row["reason"],
        created_at=row["created_at"],
        rating=row["rating"] or None,
        note=row["note"],
        rated_at=row["rated_at"],
    )
