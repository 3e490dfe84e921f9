"""Recommendations on chat's side: a turn's (its cards, as the rows written with the turn's activity) and the
customer's feedback on one.

The cards themselves are decided in `llm` (llm/grounding.py: every proposal checked against the turn's candidates
and the customer's rules); their ids are chosen there and stored with the message, so a card's `id` is the uuid of
its recommendation row from the start.
"""

import logging
from collections.abc import Collection
from dataclasses import replace
from uuid import UUID

from customers import services as customers
from customers.services import RecommendationRating
from llm import services as llm
from llm.services import StoreUnavailable, Turn, TurnContext

logger = logging.getLogger(__name__)


def rows_of(turn: Turn) -> tuple[tuple[UUID, str, str], ...]:
    """The turn's cards as (recommendation id, external_id, reason), in order, for `session_record_activity`."""
    return tuple((UUID(card.id), card.item.external_id, card.reason) for card in turn.recommendations)


def withdraw_unrecorded(
    session_id: UUID, turn: Turn, recorded: Collection[UUID], context: TurnContext, idempotency_key: str | None
) -> Turn:
    """The turn without the cards its recording left out (`recorded` holds the ids of the rows written: the cards
    whose items still met every rule of the customer when the turn was recorded), revised where it is stored too,
    its text kept from naming them. The turn as it is when every card was recorded."""
    withdrawn = {card.id for card in turn.recommendations if UUID(card.id) not in recorded}
    if not withdrawn:
        return turn
    logger.info("recommendations withdrawn", extra={"session_id": str(session_id), "withdrawn": len(withdrawn)})
    try:
        return llm.turn_cards_withdraw(
            session_id=session_id, turn=turn, withdrawn=withdrawn, context=context, idempotency_key=idempotency_key
        )
    except StoreUnavailable:
        # The stored reply keeps them (their rows do not exist: they cannot be rated); the answer still omits them.
        logger.warning("recommendations_not_withdrawn_in_store", extra={"session_id": str(session_id)})
        kept = tuple(card for card in turn.recommendations if card.id not in withdrawn)
        return replace(turn, assistant_message=replace(turn.assistant_message, recommendations=kept))


def feedback_give(*, customer_id: int, recommendation_id: UUID, rating: str, note: str = "") -> RecommendationRating:
    """Rate one of the customer's recommendations; rating again replaces it. RecommendationNotFound (404) for an
    absent one or another customer's."""
    return customers.recommendation_rate(
        customer_id=customer_id, recommendation_id=recommendation_id, rating=rating, note=note
    )
