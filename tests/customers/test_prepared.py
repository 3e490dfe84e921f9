"""A turn's statements have their values bound by the server and are prepared on their connection from their second
run, parsed once (customers.database): the small ones (the customer's facts, the recording) run one plan for all
values from their sixth run; the ranking is planned for each run's values (its subsets choose their scans by how
common the request's words are), and the connection plans every other statement as before once it has run. The
answers are the same. Django's own statements are never prepared."""

import uuid

import pytest
from django.db import DataError, connection

from customers import services
from customers.database import planned_row
from customers.models import Customer

pytestmark = pytest.mark.django_db

FACTS, RANKING, RECORDING = 'SELECT "customers_customer"."allergies"', "WITH met AS (", "WITH activity AS ("


@pytest.fixture(autouse=True)
def _none_prepared_yet():
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # psycopg forgets its own prepared statements with it


def plan_cache_mode() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW plan_cache_mode")
        return cursor.fetchone()[0]


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
    turns = [turn() for _ in range(9)]
    # Prepared on their second run, then run eight times more: the small statements planned for their values five
    # times, then one plan for all (PostgreSQL's default); the ranking planned for its values every time. The facts
    # twice a turn: read with the tastes for the candidates, without for the recording.
    assert prepared() == sorted([(FACTS, 4, 5), (FACTS, 4, 5), (RANKING, 0, 9), (RECORDING, 4, 5)])
    assert all(found == first for found in turns)
    assert plan_cache_mode() == "auto"


def test_djangos_own_statements_are_never_prepared(alice):
    for _ in range(3):
        assert Customer.objects.filter(pk=alice.customer_id).exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        assert cursor.fetchone() == (0,)


def test_a_turns_statements_keep_their_text_as_the_customer_rates_more_items_down(alice):
    services.catalog_demo_seed()
    session = services.session_open(customer_id=alice.customer_id)
    rankings: list[str] = []

    def ranking_text(execute, sql, params, many, context):
        if sql.startswith(RANKING):
            rankings.append(sql)
        return execute(sql, params, many, context)

    def read() -> tuple[str, ...]:
        with connection.execute_wrapper(ranking_text):
            found = services.catalog_turn_read(customer_id=alice.customer_id, text="Something spicy in Mapo?")
        return tuple(candidate.external_id for candidate in found.candidates)

    def rate_down(external_id: str) -> None:
        (recorded,) = record(session.session_id, alice.customer_id, [external_id])
        services.recommendation_rate(customer_id=alice.customer_id, recommendation_id=recorded, rating="down")

    rate_down(read()[0])
    second = read()
    rate_down(second[0])
    third = read()
    assert second[0] not in third
    record(session.session_id, alice.customer_id, [third[0]])
    # The items rated down are one array value: the ranking has one text with one item rated down and with two
    # (prepared on the second read, run again after the second), and the recording is one statement, prepared when
    # it runs again after the second item rated down.
    assert len(rankings) == 3
    assert rankings[1] == rankings[2] != rankings[0]
    runs = {prefix: generic + custom for prefix, generic, custom in prepared() if prefix in (RANKING, RECORDING)}
    assert runs == {RANKING: 1, RECORDING: 1}


@pytest.mark.django_db(transaction=True)  # as a turn's ranking runs: outside a transaction
def test_a_statement_planned_for_its_values_leaves_the_connections_plans_as_they_were_even_when_it_fails():
    assert planned_row("SELECT %s::int + 1", [41]) == (42,)
    assert plan_cache_mode() == "auto"
    with pytest.raises(DataError):
        planned_row("SELECT 1 / %s::int", [0])
    assert plan_cache_mode() == "auto"
    assert planned_row("SELECT %s::int + 1", [1]) == (2,)
