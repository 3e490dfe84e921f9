"""Profile memory through the API, on the demo catalog: an allergy or diet stated in a chat becomes a pending proposal
on the customer, which binds every session of theirs until declined; accepting moves it into the profile (and the
cache serves the new profile), declining lets it go; the customer edits their dietary profile with PATCH, never their
limit or spending; every change is recorded; nobody sees or decides another customer's proposals."""

import json

import pytest

from customers import services as customers
from customers.models import Customer, ProfileChange, ProfileProposal
from llm.prompts import PENDING_LABEL
from tests.chat.support import answering, assert_problem, offered

pytestmark = pytest.mark.django_db(transaction=True)

CATALOG = {
    row["external_id"]: row
    for row in map(json.loads, customers.DEMO_CATALOG_PATH.read_text(encoding="utf-8").splitlines())
}
SESAME = "참깨 알레르기가 있어요. 저녁 뭐 먹지?"
KIMBAP = "꼬마김밥 먹고 싶어요"  # every kimbap of the demo catalog has sesame


@pytest.fixture(autouse=True)
def demo_catalog():
    customers.catalog_demo_seed()


def has(external_id: str, allergen: str) -> bool:
    return allergen in (CATALOG[external_id].get("allergens") or [])


def send(client, session_id, content) -> dict:
    response = client.post(f"/api/v1/sessions/{session_id}/messages", {"content": content}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def proposals(client) -> list[dict]:
    return client.get("/api/v1/me").json()["proposals"]


def test_a_stated_allergy_binds_the_next_session_while_pending_and_until_declined(alice, api, open_session):
    client = api(alice)
    first = open_session(alice)
    assert proposals(client) == []  # cached now: the turn's proposal must drop the entry
    said = send(client, first, SESAME)
    assert "sesame: 알레르기(으)로 여길게요. 프로필에서 확인해 주세요." in said["assistant_message"]["content"]
    [proposal] = proposals(client)
    assert (proposal["kind"], proposal["code"], proposal["session_id"]) == ("allergy", "sesame", first)

    second = open_session(alice)
    bound = send(client, second, KIMBAP)
    assert bound["constraints"]["allergens"] == []  # not the session's own: the profile's pending proposal
    assert bound["recommendations"] == []  # every kimbap has sesame
    assert "sesame" in bound["assistant_message"]["content"]
    meal = send(client, second, "매운 저녁 추천해 주세요")
    assert meal["recommendations"]
    for card in meal["recommendations"]:
        assert not has(card["item"]["external_id"], "sesame")
        assert card["checks"]["allergens"] == ["peanut", "sesame"]  # the receipt lists the pending code

    declined = client.post(f"/api/v1/me/proposals/{proposal['id']}/decline")
    assert declined.status_code == 200, declined.content
    assert declined.json()["proposals"] == []
    assert declined.json()["allergies"] == ["peanut"]
    free = send(client, second, KIMBAP)
    assert any(has(card["item"]["external_id"], "sesame") for card in free["recommendations"])
    # The first session's own constraint still holds it there, and it is not proposed again from that session.
    again = send(client, first, KIMBAP)
    assert not any(has(card["item"]["external_id"], "sesame") for card in again["recommendations"])
    send(client, first, SESAME)
    assert proposals(client) == []
    assert "프로필에서 확인해" not in send(client, first, SESAME)["assistant_message"]["content"]


def test_accepting_moves_the_code_into_the_profile_and_the_cache_serves_it(alice, api, open_session):
    client = api(alice)
    session_id = open_session(alice)
    send(client, session_id, SESAME)
    [proposal] = proposals(client)
    assert client.get("/api/v1/me").json()["allergies"] == ["peanut"]  # the cached profile, warm now
    accepted = client.post(f"/api/v1/me/proposals/{proposal['id']}/accept")
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["allergies"] == ["peanut", "sesame"]
    assert accepted.json()["proposals"] == []
    me = client.get("/api/v1/me").json()
    assert me["allergies"] == ["peanut", "sesame"]
    assert me["proposals"] == []
    assert customers.customer_profile_get(customer_id=alice.customer_id).allergies == ("peanut", "sesame")
    again = client.post(f"/api/v1/me/proposals/{proposal['id']}/decline")
    assert_problem(again, 409, "already_decided")
    assert client.get("/api/v1/me").json()["allergies"] == ["peanut", "sesame"]
    [change] = ProfileChange.objects.filter(customer_id=alice.customer_id, action="accept")
    assert (change.source, change.changed_by_id) == ("customer", alice.user_id)
    assert change.before["allergies"] == ["peanut"]
    assert change.after["allergies"] == ["peanut", "sesame"]
    # Stated once more, a code of the profile is not proposed again.
    send(client, session_id, SESAME)
    assert proposals(client) == []


def test_the_same_code_stated_twice_gives_one_proposal(alice, api, open_session):
    client = api(alice)
    first, second = open_session(alice), open_session(alice)
    send(client, first, SESAME)
    send(client, first, "I'm allergic to sesame, remember")
    send(client, second, "참깨 못 먹어요")
    assert [p["code"] for p in proposals(client)] == ["sesame"]
    assert ProfileProposal.objects.filter(customer_id=alice.customer_id).count() == 1


def test_a_diet_the_model_notes_becomes_a_proposal(bob, api, open_session, fake_openai):
    def make(items):
        noted = {"allergens": [], "diets": ["vegan"], "max_price": None, "exclude_tags": []}
        proposals = [{"item_id": item_id, "reason": "fits"} for item_id, _ in items[:2]]
        return {"mood": None, "noted": noted, "recommendations": proposals, "reply": "Here you go."}

    answering(fake_openai, make)
    client = api(bob)
    send(client, open_session(bob), "Something for dinner in Haeundae?")
    [proposal] = proposals(client)
    assert (proposal["kind"], proposal["code"]) == ("diet", "vegan")
    answering(fake_openai, lambda items: {"mood": None, "noted": None, "recommendations": [], "reply": "Hi."})
    send(client, open_session(bob), "Dinner in Haeundae?")
    [_, *_, later] = [r for r in fake_openai.requests if "<candidates>" in r.body["messages"][0]["content"]]
    system = later.body["messages"][0]["content"]
    assert f"{PENDING_LABEL}: diets: vegan" in system
    for item_id, _ in offered(later.body):
        row = CATALOG[item_id]
        assert not row.get("food", row["kind"] in ("restaurant", "dish")) or "vegan" in row.get("diets", [])


def test_bob_can_neither_see_nor_decide_alices_proposals(alice, bob, api, open_session):
    send(api(alice), open_session(alice), SESAME)
    [proposal] = proposals(api(alice))
    assert proposals(api(bob)) == []
    for action in ("accept", "decline"):
        assert_problem(api(bob).post(f"/api/v1/me/proposals/{proposal['id']}/{action}"), 404, "not_found")
    assert ProfileProposal.objects.get(pk=proposal["id"]).status == "pending"
    assert Customer.objects.get(pk=bob.customer_id).allergies == ["crustacean", "mollusc"]


def test_patch_edits_the_dietary_profile_through_the_vocabulary_and_records_it(alice, api):
    client = api(alice)
    assert client.get("/api/v1/me").status_code == 200  # warm the cache
    response = client.patch(
        "/api/v1/me",
        {"allergies": ["peanut", "새우", "kiwi"], "diets": ["채식"], "preferences": ["jazz"]},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["allergies"] == ["peanut", "crustacean"]
    assert body["diets"] == ["vegetarian"]
    assert body["dietary_notes"] == ["kiwi"]
    assert body["preferences"] == ["jazz"]
    assert client.get("/api/v1/me").json()["allergies"] == ["peanut", "crustacean"]  # the cache was dropped
    [change] = ProfileChange.objects.filter(customer_id=alice.customer_id)
    assert (change.source, change.action, change.changed_by_id) == ("customer", "edit", alice.user_id)
    assert change.before == {
        "allergies": ["peanut"],
        "diets": [],
        "dietary_notes": [],
        "preferences": ["spicy food", "hiking"],
    }
    assert change.after["allergies"] == ["peanut", "crustacean"]


def test_a_patch_that_adds_a_pending_code_accepts_its_proposal(alice, api, open_session):
    client = api(alice)
    send(client, open_session(alice), SESAME)
    [proposal] = proposals(client)  # cached now: the edit must drop the entry
    response = client.patch("/api/v1/me", {"allergies": ["peanut", "참깨"]}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["allergies"] == ["peanut", "sesame"]
    assert response.json()["proposals"] == []
    assert proposals(client) == []
    row = ProfileProposal.objects.get(pk=proposal["id"])
    assert (row.status, row.decided_by_id) == ("accepted", alice.user_id)
    [change] = ProfileChange.objects.filter(customer_id=alice.customer_id, action="edit")
    assert change.after == {"allergies": ["peanut", "sesame"], "proposals_accepted": [proposal["id"]]}
    decided = client.post(f"/api/v1/me/proposals/{proposal['id']}/decline")
    assert_problem(decided, 409, "already_decided")


@pytest.mark.parametrize("field", ["monthly_limit_minor", "spent_this_month_minor"])
def test_patch_of_the_limit_or_the_spending_is_refused_and_writes_nothing(alice, api, field):
    client = api(alice)
    before = Customer.objects.get(pk=alice.customer_id)
    response = client.patch("/api/v1/me", {field: 10**9, "allergies": ["sesame"]}, format="json")
    problem = assert_problem(response, 400, "invalid_request")
    assert list(problem["errors"]) == [field]
    after = Customer.objects.get(pk=alice.customer_id)
    assert (after.monthly_limit_minor, after.spent_this_month_minor, after.allergies) == (
        before.monthly_limit_minor,
        before.spent_this_month_minor,
        before.allergies,
    )
    assert not ProfileChange.objects.exists()


def test_patch_refuses_a_bad_entry_naming_the_field(alice, api):
    response = api(alice).patch("/api/v1/me", {"allergies": "peanut"}, format="json")
    assert list(assert_problem(response, 400, "invalid_request")["errors"]) == ["allergies"]
    assert not ProfileChange.objects.exists()


def test_the_session_summary_records_what_was_stated(alice, api, open_session):
    client = api(alice)
    session_id = open_session(alice)
    send(client, session_id, SESAME)
    ended = client.post(f"/api/v1/sessions/{session_id}/end")
    assert ended.status_code == 200, ended.content
    assert "never these allergens: sesame" in ended.json()["summary"]


def test_a_pending_allergy_keeps_its_items_out_of_the_candidate_block_of_another_session(
    alice, api, open_session, fake_openai
):
    def make(items):
        proposals = [{"item_id": item_id, "reason": "fits"} for item_id, _ in items[:3]]
        return {"mood": None, "noted": None, "recommendations": proposals, "reply": "Here you go."}

    answering(fake_openai, make)
    client = api(alice)
    send(client, open_session(alice), SESAME)
    second = open_session(alice)
    send(client, second, "매운 저녁 추천해 주세요")
    asked = [r for r in fake_openai.requests if "<candidates>" in r.body["messages"][0]["content"]][-1]
    assert offered(asked.body)
    assert not any(has(item_id, "sesame") for item_id, _ in offered(asked.body))
    [proposal] = proposals(client)
    client.post(f"/api/v1/me/proposals/{proposal['id']}/decline")
    send(client, second, "매운 저녁 추천해 주세요")
    asked = [r for r in fake_openai.requests if "<candidates>" in r.body["messages"][0]["content"]][-1]
    assert any(has(item_id, "sesame") for item_id, _ in offered(asked.body))
