"""The turn's statements are prepared on their connection (customers.database.prepared_cursor): from their second
run PostgreSQL parses them once, still plans each run for its values (never one plan for all: the ranking's subsets
choose their scans by how common the request's words are), and answers the same; Django's own statements are never
prepared."""

import uuid

import pytest
from django.db import connection

from customers import services
from customers.models import Customer

pytestmark = pytest.mark.django_db

FACTS, RANKING, RECORDING = 'SELECT "customers_customer"."allergies"', "WITH met AS (", "WITH activity AS ("


@pytest.fixture(autouse=True)
def _none_prepared_yet():
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # psycopg forgets its own prepared statements with it


def prepared() -> list[tuple[str, int, int]]:
    """The connection's prepared statements of a turn, by their first words, with the generic and custom plans run."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements")
        rows = cursor.fetchall()
    return sorted(
        (prefix, generic, custom)
        for text, generic, custom in rows
        for prefix in (FACTS, RANKING, RECORDING)
        if text.startswith(prefix)
    )


def record(session_id: uuid.UUID, customer_id: int, external_ids: list[str]) -> tuple[uuid.UUID, ...]:
    """A turn's activity with cards for `external_ids`, recorded as a turn records it; the ids of the rows written."""
    recommended = [(uuid.uuid4(), external_id, "spicy") for external_id in external_ids]
    recorded = services.session_record_activity(
        session_id=session_id,
        messages_added=2,
        prompt_tokens=10,
        completion_tokens=5,
        recommendations=recommended,
        customer_id=customer_id,
    )
    assert sorted(recorded) == sorted(row_id for row_id, _, _ in recommended)
    return recorded


def test_a_turns_statements_are_prepared_from_their_second_run_and_planned_for_each_runs_values(alice):
    services.catalog_demo_seed()
    session = services.session_open(customer_id=alice.customer_id)

    def turn():
        found = services.catalog_turn_read(customer_id=alice.customer_id, text="Something spicy in Mapo?")
        record(session.session_id, alice.customer_id, [candidate.external_id for candidate in found.candidates[:2]])
        return found

    first = turn()
    assert len(first.candidates) == 8
    assert prepared() == []
    turns = [turn() for _ in range(7)]
    # Prepared on their second run, then run six times more: parsed once, planned for each run's values. The facts
    # twice a turn: read with the tastes for the candidates, without for the recording.
    assert prepared() == sorted([(FACTS, 0, 7), (FACTS, 0, 7), (RANKING, 0, 7), (RECORDING, 0, 7)])
    assert all(found == first for found in turns)


def test_djangos_own_statements_are_never_prepared(alice):
    for _ in range(3):
        assert Customer.objects.filter(pk=alice.customer_id).exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        assert cursor.fetchone() == (0,)


def test_the_ranking_keeps_its_text_as_the_customer_rates_more_items_down(alice):
    services.catalog_demo_seed()
    session = services.session_open(customer_id=alice.customer_id)

    def read() -> tuple[str, ...]:
        found = services.catalog_turn_read(customer_id=alice.customer_id, text="Something spicy in Mapo?")
        return tuple(candidate.external_id for candidate in found.candidates)

    def rate_down(external_id: str) -> None:
        (recorded,) = record(session.session_id, alice.customer_id, [external_id])
        services.recommendation_rate(customer_id=alice.customer_id, recommendation_id=recorded, rating="down")

    rate_down(read()[0])
    read()
    second = read()
    rate_down(second[0])
    assert second[0] not in read()
    # One ranking statement, prepared on the second read and run again after the second item rated down.
    assert [(prefix, custom) for prefix, _, custom in prepared() if prefix == RANKING] == [(RANKING, 2)]
