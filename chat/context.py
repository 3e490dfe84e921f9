"""What a turn knows about the customer: `customers` records translated into `llm` inputs.

`chat` is the only place that knows both vocabularies; `llm` gets plain data, as across a network boundary.
"""

from uuid import UUID

from django.conf import settings

from customers import services as customers
from llm.data import CustomerFacts, PastSummary, TurnContext


def turn_context_build(*, customer_id: int, session_id: UUID) -> TurnContext:
    """The customer's facts and the summaries of their latest ended sessions (both read through the cache)."""
    record = customers.customer_context_get(customer_id=customer_id)
    limit = settings.PAST_SESSION_SUMMARIES
    past = (
        customers.past_session_summaries(customer_id=customer_id, limit=limit, exclude_session_id=session_id)
        if limit
        else ()
    )
    return TurnContext(
        customer_id=customer_id,
        customer=CustomerFacts(
            display_name=record.display_name,
            birth_year=record.birth_year,
            home_area=record.home_area,
            preferred_language=record.preferred_language,
            currency=record.currency,
            monthly_limit_minor=record.monthly_limit_minor,
            remaining_limit_minor=record.remaining_limit_minor,
            preferences=tuple(record.preferences),
            allergies=tuple(record.allergies),
            diets=tuple(record.diets),
            dietary_notes=tuple(record.dietary_notes),
        ),
        past_summaries=tuple(PastSummary(title=p.title, ended_at=p.ended_at, summary=p.summary) for p in past),
    )
