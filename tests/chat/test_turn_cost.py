"""What a warm recommending turn costs in SQL, through the real API: the catalog read (the customer's facts, then the
ranking with the names to avoid), then in one transaction the customer's facts again (the cards are checked against
the current rows) and one statement that updates the activity and inserts the cards that still pass. Nothing else:
authentication, ownership and the customer's context come from the cache."""

import pytest
from django.db import connection

from customers import services as customers
from customers.models import Recommendation
from tests.chat.support import answering
from tests.statements import Statements

# Committed for real: the transaction boundaries are what is checked.
pytestmark = pytest.mark.django_db(transaction=True)


def proposing_two(items):
    (first_id, first_name), (second_id, _), *_ = items
    proposals = [{"item_id": first_id, "reason": "spicy"}, {"item_id": second_id, "reason": "in Mapo"}]
    return {"mood": "happy", "recommendations": proposals, "reply": f"{first_name}?"}


def test_a_warm_recommending_turn_costs_the_catalog_read_and_two_statements_in_one_transaction(
    alice, api, open_session, fake_openai
):
    customers.catalog_demo_seed()
    answering(fake_openai, proposing_two)
    session_id = open_session(alice)
    client = api(alice)
    path = f"/api/v1/sessions/{session_id}/messages"
    first = client.post(path, {"content": "매운 저녁 추천해 주세요, 마포에서"}, format="json")
    assert first.status_code == 201, first.content  # the caches are warm now

    statements = Statements()
    with connection.execute_wrapper(statements):
        response = client.post(path, {"content": "Something spicy in Mapo again?"}, format="json")
    assert response.status_code == 201, response.content
    assert statements.sent == [
        ("facts", None),
        ("ranking and names", None),
        ("facts", 1),
        ("activity and cards", 1),
    ]
    assert statements.open is None  # committed
    cards = response.json()["recommendations"]
    assert len(cards) == 2
    rows = Recommendation.objects.filter(session_id=session_id).order_by("created_at")
    assert [str(row.pk) for row in rows][2:] == [card["id"] for card in cards]
    assert [(row.customer_id, row.reason) for row in rows][2:] == [
        (alice.customer_id, "spicy"),
        (alice.customer_id, "in Mapo"),
    ]


def test_a_turn_stating_an_allergy_proposes_it_in_its_activity_transaction_with_one_statement_more(
    alice, api, open_session, fake_openai
):
    customers.catalog_demo_seed()
    answering(fake_openai, proposing_two)
    session_id = open_session(alice)
    client = api(alice)
    path = f"/api/v1/sessions/{session_id}/messages"
    assert client.post(path, {"content": "매운 저녁 추천해 주세요, 마포에서"}, format="json").status_code == 201

    statements = Statements()
    with connection.execute_wrapper(statements):
        response = client.post(path, {"content": "I'm allergic to sesame. Something spicy in Mapo?"}, format="json")
    assert response.status_code == 201, response.content
    assert statements.sent == [
        ("facts", None),
        ("ranking and names", None),
        ("facts", 1),
        ("activity and cards", 1),
        ("proposals", 1),
    ]
    assert statements.open is None
