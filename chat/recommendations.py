"""Recommendations on chat's side: what a turn showed (its cards, for the rows written with the turn's activity) and
the customer's feedback on one.

The cards themselves are decided in `llm` (llm/grounding.py: every proposal checked against the turn's candidates
and the customer's rules); their ids are chosen there and stored with the message, so a card's `id` is the uuid of
its recommendation row from the start.
"""

from uuid import UUID

from customers import services as customers
from customers.services import RecommendationRating
from llm.services import Turn


def shown(turn: Turn) -> tuple[tuple[UUID, str, str], ...]:
    """The turn's cards as (recommendation id, external_id, reason), in order, for `session_record_activity`."""
    return tuple((UUID(card.id), card.item.external_id, card.reason) for card in turn.recommendations)


def feedback_give(*, customer_id: int, recommendation_id: UUID, rating: str, note: str = "") -> RecommendationRating:
    """Rate one of the customer's recommendations; rating again replaces it. RecommendationNotFound (404) for an
    absent one or another customer's."""
    return customers.recommendation_rate(
        customer_id=customer_id, recommendation_id=recommendation_id, rating=rating, note=note
    )
