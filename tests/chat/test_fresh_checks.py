"""Cards checked again when they are recorded: a rating down, a deactivation or a profile change made while the model
answers (after the turn's candidates were read) stops the card, as a dropped proposal is stopped: the turn, the stored
message and the recommendation rows omit it, and the reply text does not name it.

The scripted model makes the change itself when it is asked (from the fake server's thread, committed), so that it
lands exactly between the candidates' read and the recording.
"""

import uuid

import pytest
from django.db import connection
from django.db.models import F

from customers import services as customers
from customers.catalog.recommendations import record as recommendations_record
from customers.models import CatalogItem, Customer, Recommendation
from tests.chat.support import answering, parse_events
from tests.chat.test_api_stream import stream

pytestmark = pytest.mark.django_db(transaction=True)  # the change is made from another thread, committed

REQUEST = "매운 저녁 추천해 주세요, 마포에서"


@pytest.fixture(autouse=True)
def demo_catalog():
    customers.catalog_demo_seed()


def rate_down(customer, external_id: str) -> None:
    [earlier] = recommendations_record(
        customer_id=customer.customer_id, session_id=None, recommended=[(external_id, "")]
    )
    customers.recommendation_rate(
        customer_id=customer.customer_id, recommendation_id=earlier.recommendation_id, rating="down"
    )


def deactivate(customer, external_id: str) -> None:
    CatalogItem.objects.filter(external_id=external_id).update(active=False)


def add_its_allergen(customer, external_id: str) -> None:
    allergens = CatalogItem.objects.get(external_id=external_id).allergens
    Customer.objects.filter(pk=customer.customer_id).update(allergies=[*allergens, "peanut"])


def spend_its_price(customer, external_id: str) -> None:
    price = CatalogItem.objects.get(external_id=external_id).price_minor
    Customer.objects.filter(pk=customer.customer_id).update(spent_this_month_minor=F("monthly_limit_minor") - price + 1)


CHANGES = {
    "rated down": rate_down,
    "deactivated": deactivate,
    "an allergy added to the profile": add_its_allergen,
    "the budget spent": spend_its_price,
}


def pair(items: list[tuple[str, str]]) -> tuple[tuple[str, str], tuple[str, str]]:
    """Two offered items, the first priced above the second and with an allergen the second lacks, so that each
    change can stop the first alone."""
    rows = {row.external_id: row for row in CatalogItem.objects.filter(external_id__in=[i for i, _ in items])}
    for first in items:
        for second in items:
            a, b = rows[first[0]], rows[second[0]]
            if (
                a.allergens
                and not set(a.allergens) & set(b.allergens)
                and a.price_minor is not None
                and (b.price_minor or 0) < a.price_minor
            ):
                return first, second
    raise AssertionError("the demo catalog offers no such pair")


def changing_while_answering(customer, change, chosen: dict):
    def make(items):
        (first_id, first_name), (second_id, second_name) = pair(items)
        chosen.update(first=(first_id, first_name), second=(second_id, second_name))
        change(customer, first_id)  # while the model answers: after the candidates were read
        connection.close()  # the fake server thread's own connection
        proposals = [{"item_id": first_id, "reason": "spicy"}, {"item_id": second_id, "reason": "in Mapo"}]
        return {"mood": "happy", "recommendations": proposals, "reply": f"Try {first_name}. Or {second_name}."}

    return make


def assert_withdrawn(turn: dict, listed: dict, chosen: dict, session_id: str) -> None:
    (_, first_name), (second_id, second_name) = chosen["first"], chosen["second"]
    [card] = turn["recommendations"]
    assert card["item"]["external_id"] == second_id
    assert turn["assistant_message"]["recommendations"] == [card]
    text = turn["assistant_message"]["content"]
    assert first_name.split(" (")[0] not in text, text
    assert second_name in text
    assert listed["recommendations"] == [card]  # the stored message
    assert listed["content"] == text
    rows = Recommendation.objects.filter(session_id=session_id)
    assert [str(row.pk) for row in rows] == [card["id"]]


@pytest.mark.parametrize("change", CHANGES, ids=list(CHANGES))
def test_a_card_that_no_longer_passes_when_recorded_is_withdrawn(change, alice, api, open_session, fake_openai):
    chosen: dict = {}
    answering(fake_openai, changing_while_answering(alice, CHANGES[change], chosen))
    client = api(alice)
    session_id = open_session(alice)
    response = client.post(f"/api/v1/sessions/{session_id}/messages", {"content": REQUEST}, format="json")
    assert response.status_code == 201, response.content
    [listed] = [m for m in client.get(f"/api/v1/sessions/{session_id}/messages").json()["results"] if m["seq"] == 2]
    assert_withdrawn(response.json(), listed, chosen, session_id)


def test_a_streamed_card_that_no_longer_passes_is_withdrawn_from_the_done_event(alice, api, open_session, fake_openai):
    chosen: dict = {}
    answering(fake_openai, changing_while_answering(alice, deactivate, chosen))
    session_id = open_session(alice)
    response, body = stream(alice, session_id, REQUEST)
    assert response.status_code == 200
    [done] = [data for event, data in parse_events(body) if event == "done"]
    client = api(alice)
    [listed] = [m for m in client.get(f"/api/v1/sessions/{session_id}/messages").json()["results"] if m["seq"] == 2]
    assert_withdrawn(done, listed, chosen, session_id)
    assert Recommendation.objects.filter(pk=uuid.UUID(done["recommendations"][0]["id"])).exists()
