"""Where customer facts cross from `customers` to `llm`: one read of what a turn needs, and its one mapping into
`llm` inputs.

`chat` is the only place that knows both vocabularies; `llm` gets plain data, as across a network boundary.
"""

from collections.abc import Callable
from dataclasses import fields
from uuid import UUID

from django.conf import settings

from customers import services as customers
from llm.services import CustomerFacts, PastSummary, TurnContext

# The profile fields a prompt may see: those `llm.CustomerFacts` declares, taken by name from the customer's profile
# (never the username, the spending so far or the timestamps).
_FACTS = tuple(field.name for field in fields(CustomerFacts))


def turn_context_read(*, customer_id: int, session_id: UUID, admit: Callable[[], None] | None = None) -> TurnContext:
    """The context of a turn in the customer's open session, in one cache round trip when warm.

    Raises SessionNotFound (404) when the session is absent or another customer's, then SessionEnded (409) when it
    is not open; then runs `admit()` (the turn's admission) before anything else is loaded from the database;
    DatabaseUnavailable when the cache misses and the database is down."""
    facts = customers.turn_facts_get(
        customer_id=customer_id, session_id=session_id, past_limit=settings.PAST_SESSION_SUMMARIES, admit=admit
    )
    return _context_of(facts)


def _context_of(facts: customers.TurnFacts) -> TurnContext:
    """`customers`' facts of a turn as `llm`'s input."""
    return TurnContext(
        customer_id=facts.profile.customer_id,
        customer=CustomerFacts(**{name: getattr(facts.profile, name) for name in _FACTS}),
        past_summaries=tuple(
            PastSummary(title=p.title, ended_at=p.ended_at, summary=p.summary) for p in facts.past_summaries
        ),
    )
