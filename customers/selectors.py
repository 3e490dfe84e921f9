"""Database reads that build `customers.data` values: the loaders behind the cache, and the fresh reads."""

import dataclasses
from uuid import UUID

from rest_framework.authtoken.models import Token

from customers import spending
from customers.data import ApiUser, CustomerProfile, PastSessionSummary, SessionAccess, SessionInfo
from customers.models import ChatSession, Customer, SessionStatus


def api_user(*, key: str) -> ApiUser | None:
    """The active user owning token `key`, with their customer id if they are a customer (one query)."""
    row = (
        Token.objects.filter(key=key, user__is_active=True)
        .values("user_id", "user__is_staff", "user__customer__id")
        .first()
    )
    if row is None:
        return None
    return ApiUser(user_id=row["user_id"], customer_id=row["user__customer__id"], is_staff=row["user__is_staff"])


def customer_id_of_user(*, user_id: int) -> int | None:
    return Customer.objects.filter(user_id=user_id).values_list("id", flat=True).first()


def customer_profile(*, customer_id: int) -> CustomerProfile | None:
    customer = Customer.objects.select_related("user").filter(pk=customer_id).first()
    return profile_of(customer) if customer is not None else None


# The profile's fields that the customer's row (or its `remaining_limit_minor`) holds under the same name.
_PROFILE_AS_STORED = tuple(
    field.name
    for field in dataclasses.fields(CustomerProfile)
    if field.name not in {"customer_id", "username", "spent_this_month_minor"}
)


def profile_of(customer: Customer) -> CustomerProfile:
    stored = {name: getattr(customer, name) for name in _PROFILE_AS_STORED}
    return CustomerProfile(
        customer_id=customer.pk,
        username=customer.user.get_username(),
        spent_this_month_minor=spending.spent_now(customer.spent_this_month_minor, customer.spent_month),
        **{name: tuple(value) if isinstance(value, list) else value for name, value in stored.items()},
    )


def session_access(*, session_id: UUID) -> SessionAccess | None:
    row = ChatSession.objects.filter(pk=session_id).values("customer_id", "status").first()
    if row is None:
        return None
    return SessionAccess(session_id=session_id, customer_id=row["customer_id"], status=row["status"])


def session_info(session: ChatSession) -> SessionInfo:
    return SessionInfo(
        session_id=session.pk,
        customer_id=session.customer_id,
        status=session.status,
        title=session.title,
        created_at=session.created_at,
        last_activity_at=session.last_activity_at,
        ended_at=session.ended_at,
        message_count=session.message_count,
        prompt_tokens=session.prompt_tokens,
        completion_tokens=session.completion_tokens,
        final_mood=session.final_mood,
        summary=session.summary,
    )


def past_summaries(*, customer_id: int, limit: int) -> tuple[PastSessionSummary, ...]:
    """The latest `limit` non-empty summaries of the customer's ended sessions, newest first."""
    rows = (
        ChatSession.objects.filter(customer_id=customer_id, status=SessionStatus.ENDED)
        .exclude(summary="")
        .order_by("-ended_at")
        .values("id", "title", "ended_at", "summary")[:limit]
    )
    return tuple(
        PastSessionSummary(session_id=row["id"], title=row["title"], ended_at=row["ended_at"], summary=row["summary"])
        for row in rows
    )


def token_keys(*, user_id: int) -> list[str]:
    return list(Token.objects.filter(user_id=user_id).values_list("key", flat=True))
