"""Recommendation rows: what was shown to a customer (item, reason, session) and how they rated it."""

from collections.abc import Sequence
from datetime import timedelta
from uuid import UUID, uuid4

from django.db import connection, transaction
from django.utils import timezone

from customers.catalog.search import RuleFacts, eligible_rows_sql
from customers.data import RecommendationInfo, RecommendationRating
from customers.database import prepared_cursor
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
    recommended: Sequence[tuple[str, str]],
    ids: Sequence[UUID | str] | None = None,
) -> tuple[RecommendationInfo, ...]:
    """Write one row per (external_id, reason) recommended, in order; `ids`, if given, are the rows' uuids (chosen by
    the caller, e.g. already stored with the message that shows them). Raises InvalidInput for an unknown item id or
    customer."""
    if not recommended:
        return ()
    if ids is not None and len(ids) != len(recommended):
        raise InvalidInput("one id per recommendation")
    uuids = [UUID(str(value)) for value in ids] if ids is not None else [uuid4() for _ in recommended]
    with transaction.atomic():
        insert(recommended=recommended, ids=uuids, session_id=session_id, customer_id=customer_id)
    return list_(customer_id=customer_id, ids=uuids)


def insert(
    *,
    recommended: Sequence[tuple[str, str]],
    ids: Sequence[UUID],
    session_id: UUID | None,
    customer_id: int | None = None,
    rules: RuleFacts | None = None,
    activity: tuple[str, Sequence[object]] | None = None,
) -> tuple[UUID, ...]:
    """One INSERT ... SELECT of the rows recommended (external_id, reason), with the uuids `ids`, for `customer_id`
    or, when None, the customer of session `session_id`; the ids inserted, in no order. The statement finds each item
    by its external_id and the customer (in their rows). To be called in a transaction, which an error here must roll
    back.

    Without `rules`, every row must be inserted: raises InvalidInput for an unknown item id or customer,
    SessionNotFound for a session gone. With `rules`, only the items that meet them in their current rows are
    (`search.eligible`, the rules' one definition, in the same statement): the others are left out without an
    error; SessionNotFound still when the session is gone. With `activity` (the UPDATE of the session's counters, as
    SQL and parameters), that UPDATE runs first: on PostgreSQL in the same statement (a data-modifying WITH, whose row
    names the customer), elsewhere as a statement of its own."""
    now = timezone.now()
    pk = Recommendation._meta.pk
    values, params = [], []
    for position, ((external_id, reason), row_id) in enumerate(zip(recommended, ids, strict=True)):
        values.append("(%s, %s, %s, %s)")
        created_at = now + timedelta(microseconds=position)  # the order recommended is the creation order
        params += [
            pk.get_db_prep_value(row_id, connection),
            external_id,
            reason.strip()[:MAX_REASON],
            connection.ops.adapt_datetimefield_value(created_at),
        ]
    session = ChatSession._meta.pk.get_db_prep_value(session_id, connection) if session_id is not None else None
    if customer_id is None:
        owner, owner_params = "SELECT customer_id FROM customers_chatsession WHERE id = %s", [session]
    else:
        owner, owner_params = "SELECT id AS customer_id FROM customers_customer WHERE id = %s", [customer_id]
    ctes, cte_params = [], []
    if activity is not None:
        update_sql, update_params = activity
        if connection.vendor == "postgresql":
            ctes.append(f"activity AS ({update_sql} RETURNING customer_id)")
            cte_params += update_params
            owner, owner_params = "SELECT customer_id FROM activity", []
        else:
            with connection.cursor() as cursor:
                cursor.execute(update_sql, update_params)
                if not cursor.rowcount:
                    raise SessionNotFound(f"session {session_id} not found")
    items, items_params = "customers_catalogitem", ()
    if rules is not None:
        items_sql, items_params = eligible_rows_sql(rules, ("id", "external_id"), connection.vendor)
        items = f"({items_sql})"
    ctes.append(f"shown (id, external_id, reason, created_at) AS (VALUES {', '.join(values)})")
    # Constant fragments only: every value is a bound parameter.
    sql = " ".join(
        (
            "WITH",
            ", ".join(ctes),
            "INSERT INTO customers_recommendation",
            "(id, customer_id, session_id, item_id, reason, created_at, rating, note, rated_at)",
            "SELECT shown.id, owner.customer_id, %s, item.id, shown.reason, shown.created_at, '', '', NULL",
            f"FROM shown JOIN {items} AS item ON item.external_id = shown.external_id CROSS JOIN ({owner}) AS owner",
            "RETURNING id",
        )
    )
    with prepared_cursor() as cursor:
        cursor.execute(sql, [*cte_params, *params, session, *items_params, *owner_params])
        inserted = tuple(UUID(str(row[0])) for row in cursor.fetchall())
    if len(inserted) == len(recommended) or (rules is not None and inserted):
        return inserted
    # Only on the way to an error, or when every row was left out: which one is missing.
    if rules is not None:
        if session_id is not None and not ChatSession.objects.filter(pk=session_id).exists():
            raise SessionNotFound(f"session {session_id} not found")
        return inserted
    external_ids = [external_id for external_id, _ in recommended]
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
