"""A model call as a turn makes it: the provider produces text (llm/client.py, llm/offline.py), and a reply is
grounded here, the one place that decides what reaches the customer: its proposals checked into cards and its text
kept from naming what it must not (llm/grounding.py), streamed or not. Folds and summaries are plain text.
"""

from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, replace

from llm import grounding
from llm.data import NO_CONSTRAINTS, Card, Constraints, TurnContext, Usage
from llm.errors import LLMBadResponse
from llm.providers import Completion, ModelRequest, Provider, ReplyHead


@dataclass(frozen=True, slots=True)
class Grounds:
    """What a reply is checked against: the turn's context (its candidates: those the prompt offered) and
    RECOMMENDATIONS_MAX."""

    context: TurnContext
    max_cards: int


@dataclass(frozen=True, slots=True)
class Answer:
    """A model call's outcome as the turn keeps it: for a reply, grounded."""

    text: str
    mood: str | None
    usage: Usage
    finish_reason: str
    cards: tuple[Card, ...] = ()  # the proposals that passed every check
    noted: Constraints = NO_CONSTRAINTS  # what the model noted that tightens the rules (validated)
    schema_valid: bool | None = None


def complete(provider: Provider, request: ModelRequest, grounds: Grounds | None = None) -> Answer:
    """The answer in one piece; a reply (with `grounds`) grounded."""
    completion = provider.complete(request)
    if grounds is None:
        return _plain(completion)
    grounder = grounding.Grounder(grounds.context, max_cards=grounds.max_cards)
    grounder.settle(completion.head)
    grounder.finish(completion.text)  # read whole: no text is held back
    return _grounded(completion, grounder)


async def stream(
    provider: Provider, request: ModelRequest, grounds: Grounds | None = None
) -> AsyncIterator[str | Answer]:
    """The text deltas as produced (a reply's as grounding releases them), then exactly one Answer."""
    grounder = grounding.Grounder(grounds.context, max_cards=grounds.max_cards) if grounds else None
    async with aclosing(provider.astream(request)) as items:
        async for item in items:
            if isinstance(item, Completion):
                if grounder is None:
                    yield _plain(item)
                    return
                grounder.settle(item.head)
                if rest := grounder.finish():
                    yield rest
                yield _grounded(item, grounder)
                return
            if grounder is None:
                if isinstance(item, str):
                    yield item
            elif isinstance(item, ReplyHead):
                grounder.settle(item.members)
            elif delta := grounder.feed(item):
                yield delta
    raise LLMBadResponse("The model's stream ended without a completion.")


def _plain(completion: Completion) -> Answer:
    return Answer(completion.text, completion.mood, completion.usage, completion.finish_reason)


def _grounded(completion: Completion, grounder: grounding.Grounder) -> Answer:
    plain = _plain(completion)
    return replace(
        plain, text=grounder.text, cards=grounder.cards, noted=grounder.noted, schema_valid=completion.schema_valid
    )
