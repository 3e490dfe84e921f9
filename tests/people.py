"""The cast of the tests and the benchmarks: alice, bob and charlie, as plain data.

Every test that needs a customer uses one of these three: the `alice`, `bob` and `charlie` fixtures of
tests/conftest.py create them in the database, tests/llm/contexts.py turns them into the turn contexts `chat` would
pass to `llm`, bench/seed.py seeds them for the benchmarks and bench/window.py measures alice's prompt. A test that
needs a variation (an unknown birth year, an allergen among the preferences) makes it from one of them with
`dataclasses.replace`, next to the assertion that needs it. `past_sessions` feed the turn contexts only: the
fixtures create no sessions.

They are not the demo customers of customers/demo.py (what `make run` seeds): the demo may change for a
walkthrough's sake; the tests' facts change only with the tests.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class PastSession:
    """An ended session of the person's, as its summary is kept."""

    title: str
    ended_at: datetime
    summary: str


@dataclass(frozen=True, slots=True)
class Person:
    """A customer's facts as a test arranges them (the money in minor units of `currency`)."""

    username: str
    display_name: str
    birth_year: int | None
    home_area: str
    preferred_language: str
    currency: str
    monthly_limit_minor: int
    spent_this_month_minor: int
    preferences: tuple[str, ...]
    allergies: tuple[str, ...]
    past_sessions: tuple[PastSession, ...] = field(default=())

    @property
    def remaining_limit_minor(self) -> int:
        return max(0, self.monthly_limit_minor - self.spent_this_month_minor)

    def profile(self) -> dict[str, object]:
        """The fields of the person's customer row (lists for the JSON fields), as the models take them."""
        return {
            "display_name": self.display_name,
            "birth_year": self.birth_year,
            "home_area": self.home_area,
            "preferred_language": self.preferred_language,
            "currency": self.currency,
            "monthly_limit_minor": self.monthly_limit_minor,
            "spent_this_month_minor": self.spent_this_month_minor,
            "preferences": list(self.preferences),
            "allergies": list(self.allergies),
        }


ALICE = Person(
    username="alice",
    display_name="Alice Kim",
    birth_year=1994,
    home_area="Seoul, Mapo-gu",
    preferred_language="ko",
    currency="KRW",
    monthly_limit_minor=500_000,
    spent_this_month_minor=120_000,
    preferences=("spicy food", "hiking"),
    allergies=("peanut",),
    past_sessions=(
        PastSession(
            title="Dinner ideas",
            ended_at=datetime(2026, 11, 20, 21, 0, tzinfo=UTC),
            summary="Alice wanted something spicy and chose tteokbokki.",
        ),
    ),
)

BOB = Person(
    username="bob",
    display_name="Bob Park",
    birth_year=1987,
    home_area="Busan, Haeundae-gu",
    preferred_language="en",
    currency="KRW",
    monthly_limit_minor=300_000,
    spent_this_month_minor=280_000,
    preferences=("grilled meat", "jazz"),
    allergies=("crustacean", "mollusc"),
)

CHARLIE = Person(
    username="charlie",
    display_name="Charlie Choi",
    birth_year=2001,
    home_area="Seoul, Gangnam-gu",
    preferred_language="ko",
    currency="KRW",
    monthly_limit_minor=200_000,
    spent_this_month_minor=0,
    preferences=("vegan food", "board games"),
    allergies=("wheat",),
)

CAST = (ALICE, BOB, CHARLIE)
