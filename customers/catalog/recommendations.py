"""Recommendation rows: what was shown to a customer (item, reason, session) and how they rated it."""

from collections.abc import Sequence
from datetime import timedelta
from uuid import UUID, uuid4

from django.db import connection, transaction
from django.utils import timezone

from customers.data import RecommendationInfo, RecommendationRating
from customers.errors import InvalidInput, RecommendationNotFound, SessionNotFound
from customers.models import CatalogItem, ChatSession, Rating, Recommendation

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
    caller, e.g. already stored with the message that shows them). Raises InvalidInput for an unknown item id or
    customer."""
    if not shown:
        return ()
    if ids is not None and len(ids) != len(shown):
        raise InvalidInput("one id per recommendation shown")
    uuids = [UUID(str(value)) for value in ids] if ids is not None else [uuid4() for _ in shown]
    with transaction.atomic():
        insert(shown=shown, ids=uuids, session_id=session_id, customer_id=customer_id)
    return list_(customer_id=customer_id, ids=uuids)


def insert(
    *, shown: Sequence[tuple[str, str]], ids: Sequence[UUID], session_id: UUID | None, customer_id: int | None = None
) -> None:
    """One INSERT ... SELECT of the rows shown (external_id, reason), with the uuids `ids`, for `customer_id` or, when
    None, the customer of session `session_id`: the statement finds each item by its external_id and the customer
    (in their rows), so a short count means one is missing. To be called in a transaction, which an error here must
    roll back: raises InvalidInput for an unknown item id or customer, SessionNotFound for a session gone."""
    now = timezone.now()
    pk = Recommendation._meta.pk
    values, params = [], []
    for position, ((external_id, reason), row_id) in enumerate(zip(shown, ids, strict=True)):
        values.append("(%s, %s, %s, %s)")
        created_at = now + timedelta(microseconds=position)  # shown order is creation order
        params += [
            pk.get_db_prep_value(row_id, connection),
            external_id,
            reason.strip()[:MAX_REASON],
            connection.ops.adapt_datetimefield_value(created_at),
        ]
    session = ChatSession._meta.pk.get_db_prep_value(session_id, connection) if session_id is not None else None
    if customer_id is None:
        owner, owner_param = "SELECT customer_id FROM customers_chatsession WHERE id = %s", session
    else:
        owner, owner_param = "SELECT id AS customer_id FROM customers_customer WHERE id = %s", customer_id
    # Constant fragments only: every value is a bound parameter.
    sql = " ".join(
        (
            "INSERT INTO customers_recommendation",
            "(id, customer_id, session_id, item_id, reason, created_at, rating, note, rated_at)",
            "WITH shown (id, external_id, reason, created_at) AS (VALUES",
            ", ".join(values),
            ") SELECT shown.id, owner.customer_id, %s, item.id, shown.reason, shown.created_at, '', '', NULL",
            "FROM shown JOIN customers_catalogitem item ON item.external_id = shown.external_id CROSS JOIN (",
            owner,
            ") AS owner",
        )
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, session, owner_param])
        inserted = cursor.rowcount
    if inserted == len(shown):
        return
    # Only on the way to an error: which one is missing.
    external_ids = [external_id for external_id, _ in shown]
    known = set(CatalogItem.objects.filter(external_id__in=external_ids).values_list("external_id", flat=True))
    if missing := [external_id for external_id in external_ids if external_id not in known]:
        raise InvalidInput(f"unknown catalog item: {missing[0]}")
    if customer_id is not None:
        raise InvalidInput(f"unknown customer {customer_id}")
    raise SessionNotFound(f"session {session_id} not found")


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
