"""Turn contexts of the cast of tests/people.py, as `chat` would pass them to `llm`."""

from llm.data import Candidate, CustomerFacts, PastSummary, TurnContext
from tests.people import ALICE, BOB, Person


def context_of(person: Person, customer_id: int) -> TurnContext:
    """The person's facts and past session summaries, as the turn context of customer `customer_id`."""
    return TurnContext(
        customer_id=customer_id,
        customer=CustomerFacts(
            display_name=person.display_name,
            birth_year=person.birth_year,
            home_area=person.home_area,
            preferred_language=person.preferred_language,
            currency=person.currency,
            monthly_limit_minor=person.monthly_limit_minor,
            remaining_limit_minor=person.remaining_limit_minor,
            preferences=person.preferences,
            allergies=person.allergies,
        ),
        past_summaries=tuple(
            PastSummary(title=p.title, ended_at=p.ended_at, summary=p.summary) for p in person.past_sessions
        ),
    )


def alice() -> TurnContext:
    return context_of(ALICE, customer_id=1)


def bob() -> TurnContext:
    return context_of(BOB, customer_id=2)


def candidate(external_id: str, name: str, **fields) -> Candidate:
    """A catalog candidate as chat would pass it (a food restaurant in Mapo-gu at 15,000 KRW unless told)."""
    values = {
        "kind": "restaurant",
        "area": "Seoul, Mapo-gu",
        "price_minor": 15_000,
        "currency": "KRW",
        "tags": ("korean", "spicy"),
        "allergens": (),
        "diets": (),
        "food": True,
        "description": "",
        **fields,
    }
    return Candidate(external_id=external_id, name=name, **values)


# Four candidates for alice, best first: what a spicy dinner request finds in Mapo-gu.
ALICE_CANDIDATES = (
    candidate("mapo-tteok", "Mapo Tteokbokki House"),
    candidate("mapo-jjukkumi", "홍대 불쭈꾸미 (Hongdae Fire Octopus)", tags=("seafood", "spicy")),
    candidate("mapo-trail", "Mapo Riverside Trail", kind="activity", price_minor=None, food=False, tags=("hiking",)),
    candidate("mapo-ramen", "Hapjeong Spicy Ramen"),
)
