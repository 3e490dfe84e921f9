"""Turn contexts of the fixture customers, as `chat` would pass them to `llm`."""

from datetime import UTC, datetime

from llm.data import CustomerFacts, PastSummary, TurnContext


def alice() -> TurnContext:
    return TurnContext(
        customer_id=1,
        customer=CustomerFacts(
            display_name="Alice",
            birth_year=1991,
            home_area="Mapo-gu, Seoul",
            preferred_language="ko",
            currency="KRW",
            monthly_limit_minor=500_000,
            remaining_limit_minor=320_000,
            preferences=("Korean BBQ", "peanut noodles", "jazz bars", "spicy tteokbokki"),
            allergies=("peanuts", "shellfish"),
        ),
        past_summaries=(
            PastSummary(
                title="Dinner ideas",
                ended_at=datetime(2026, 11, 20, 21, 0, tzinfo=UTC),
                summary="Alice wanted something spicy and chose tteokbokki.",
            ),
        ),
    )


def bob() -> TurnContext:
    return TurnContext(
        customer_id=2,
        customer=CustomerFacts(
            display_name="Bob",
            birth_year=None,
            home_area="Brooklyn",
            preferred_language="en",
            currency="USD",
            monthly_limit_minor=80_000,
            remaining_limit_minor=1_250,
            preferences=("ramen",),
            allergies=("gluten",),
        ),
    )
