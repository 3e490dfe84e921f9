"""Where customer facts cross from `customers` to `llm`: one read of what a turn needs, and its one mapping into
`llm` inputs.

`chat` is the only place that knows both vocabularies; `llm` gets plain data, as across a network boundary.
"""

from dataclasses import fields, replace
from uuid import UUID

from django.conf import settings

from customers import services as customers
from llm.services import (
    NO_CONSTRAINTS,
    Candidate,
    Constraints,
    CustomerFacts,
    PastSummary,
    RecommendedItem,
    TurnContext,
    Vocabulary,
)

# The profile fields a prompt may see: those `llm.CustomerFacts` declares, taken by name from the customer's profile
# (never the username, the spending so far or the timestamps).
_FACTS = tuple(field.name for field in fields(CustomerFacts))
# The candidate fields a prompt may see: those `llm.Candidate` declares (never the ranking score).
_CANDIDATE = tuple(field.name for field in fields(Candidate))
_CONSTRAINTS = tuple(field.name for field in fields(Constraints))
TASTES = 3  # names per side of the recent-ratings line
# The codes a model's `noted` may name: the catalog's vocabulary.
VOCABULARY = Vocabulary(allergens=customers.ALLERGEN_CODES, diets=customers.DIET_CODES)


def turn_context_read(*, customer_id: int, session_id: UUID) -> TurnContext:
    """The context of a turn in the customer's open session, in one cache round trip when warm.

    Raises SessionNotFound (404) when the session is absent or another customer's, then SessionEnded (409) when it
    is not open; DatabaseUnavailable when the cache misses and the database is down."""
    facts = customers.turn_facts_get(
        customer_id=customer_id, session_id=session_id, past_limit=settings.PAST_SESSION_SUMMARIES
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


def turn_catalog_read(
    context: TurnContext, *, text: str, constraints: Constraints | None = None, session_id: UUID | None = None
) -> TurnContext:
    """`context` with the turn's catalog side, read live (two SQL statements): the candidates for `text` (best
    first, each meeting the customer's rules, their pending profile proposals, the session's `constraints` and what
    `text` states; none when nothing fits or it asks for nothing), the names the reply must not carry, what the
    customer rated lately, the constraints (the session's with the message's, and the message's alone, which the
    turn keeps with the session), and the pending allergies and diets (those proposed before, and what the message
    states that the profile lacks: `proposable`).
    The turn's first database work when every other read came from the cache: it raises DatabaseUnavailable while
    the database is down."""
    found = customers.catalog_turn_read(
        customer_id=context.customer_id,
        text=text,
        limit=settings.RECOMMENDATION_CANDIDATES,
        tastes=TASTES,
        constraints=customers.Constraints(**constraint_fields(constraints or Constraints())),
        session_id=session_id,
    )
    stated = Constraints(**constraint_fields(found.stated))
    new = proposable(context, stated, declined=Constraints(**constraint_fields(found.declined)))
    pending = Constraints(
        allergens=tuple(dict.fromkeys((*found.pending.allergens, *(c for k, c in new if k == "allergy")))),
        diets=tuple(dict.fromkeys((*found.pending.diets, *(c for k, c in new if k == "diet")))),
    )
    return replace(
        context,
        candidates=tuple(Candidate(**{name: getattr(c, name) for name in _CANDIDATE}) for c in found.candidates),
        avoid_names=found.avoid_names,
        liked=found.liked,
        disliked=found.disliked,
        constraints=Constraints(**constraint_fields(found.constraints)),
        stated=stated,
        asks=found.asks,
        vocabulary=VOCABULARY,
        pending=pending,
    )


def proposable(
    context: TurnContext, stated: Constraints, *, declined: Constraints = NO_CONSTRAINTS
) -> tuple[tuple[str, str], ...]:
    """The (kind, code) allergies and diets of `stated` to propose for the customer's profile: none of the
    profile's, none `declined` from this session (customers checks both again in the statement that writes them,
    and writes a code pending already no second time)."""
    facts = context.customer
    return (
        *(("allergy", c) for c in stated.allergens if c not in {*facts.allergies, *declined.allergens}),
        *(("diet", c) for c in stated.diets if c not in {*facts.diets, *declined.diets}),
    )


def turn_proposed(context: TurnContext, after: Constraints) -> tuple[tuple[str, str], ...]:
    """The (kind, code) allergies and diets a turn proposes for the customer's profile: what its message stated
    (`context.stated`) and what the model noted (in the session's constraints `after` the turn, neither in them
    before it nor pending already), none of the profile's. Empty for a turn that states nothing: its recording then
    costs no statement more."""
    before = context.constraints.tightened(context.pending)
    noted = Constraints(
        allergens=tuple(c for c in after.allergens if c not in before.allergens),
        diets=tuple(c for c in after.diets if c not in before.diets),
    )
    return proposable(context, context.stated.tightened(noted))


def constraint_fields(constraints: object) -> dict[str, object]:
    """The fields of either app's `Constraints` (one shape, the API's), by name."""
    return {name: getattr(constraints, name) for name in _CONSTRAINTS}


def session_recommended_read(context: TurnContext, *, customer_id: int, session_id: UUID) -> TurnContext:
    """`context` with what the session recommended and how each was rated, for its summary."""
    rows = customers.recommendations_list(customer_id=customer_id, session_id=session_id)
    return replace(context, recommended=tuple(RecommendedItem(name=row.name, rating=row.rating or "") for row in rows))
