"""What the customer says binds the recommendation, through the API, on the demo catalog: the issue's four requests
with the offline provider and with a scripted model that proposes every ruled-out item it can find (JSON and SSE);
the session keeps what was stated (GET, every turn, PUT to replace it), the model's `noted` only tightens, and a
request that asks for nothing, or for what nothing fits, gets no card.

The scripted model reads the turn's candidate block from its request, as the evaluation does, and also proposes real
catalog items that break the stated rule (never offered to it): none may come back as a card or in the text."""

import json
import uuid

import pytest

from customers import services as customers
from llm import store
from tests.chat.support import answering, assert_problem, offered, parse_events
from tests.chat.test_api_stream import stream
from tests.llm.support import raw_redis

pytestmark = pytest.mark.django_db(transaction=True)

CATALOG = {
    row["external_id"]: row
    for row in map(json.loads, customers.DEMO_CATALOG_PATH.read_text(encoding="utf-8").splitlines())
}
SHRIMP = "새우 알레르기가 있어요. 저녁 뭐 먹지?"
PORK = "I can't eat pork. BBQ dinner?"
CAP = "만원 이하로 점심 추천해줘"
THANKS = "Thanks, that's all!"


@pytest.fixture(autouse=True)
def demo_catalog():
    customers.catalog_demo_seed()


def breaks(external_id: str, *, allergen: str | None = None, cap: int | None = None) -> bool:
    row = CATALOG[external_id]
    if allergen is not None and allergen in row.get("allergens", []):
        return True
    return cap is not None and row.get("price") is not None and row["price"] > cap


def ruled_out(*, allergen: str | None = None, cap: int | None = None) -> list[str]:
    return [external_id for external_id in CATALOG if breaks(external_id, allergen=allergen, cap=cap)]


def adversary(fake, forbidden: list[str]) -> None:
    """The model proposes every forbidden item first, then what it was offered, and names them all in its text."""

    def make(items):
        proposals = [{"item_id": item_id, "reason": "you will love it"} for item_id in forbidden[:5]]
        proposals += [{"item_id": item_id, "reason": "fits"} for item_id, _ in items[:2]]
        names = ", ".join(CATALOG[item_id]["name"] for item_id in forbidden[:5])
        return {"mood": None, "noted": None, "recommendations": proposals, "reply": f"Try {names}."}

    answering(fake, make)


def send(client, session_id, content):
    return client.post(f"/api/v1/sessions/{session_id}/messages", {"content": content}, format="json")


def turn(mode, customer, api, session_id, content) -> dict:
    """One turn, as JSON or as SSE (its `done` event)."""
    if mode == "json":
        response = send(api(customer), session_id, content)
        assert response.status_code == 201, response.content
        return response.json()
    response, body = stream(customer, session_id, content)
    assert response.status_code == 200
    events = [(name, data) for name, data in parse_events(body) if name != "ping"]
    assert events[-1][0] == "done", events
    return events[-1][1]


MODES = ["json", "sse"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", ["offline", "model"])
def test_an_allergy_stated_in_the_message_binds_that_very_turn(mode, provider, alice, api, open_session, request):
    forbidden = ruled_out(allergen="crustacean")
    if provider == "model":
        fake = request.getfixturevalue("fake_openai")
        adversary(fake, forbidden)
    session_id = open_session(alice)
    body = turn(mode, alice, api, session_id, SHRIMP)
    assert body["constraints"]["allergens"] == ["crustacean"]
    assert body["recommendations"], body["assistant_message"]["content"]
    for card in body["recommendations"]:
        assert not breaks(card["item"]["external_id"], allergen="crustacean")
        assert card["checks"]["allergens"] == ["peanut", "crustacean"]  # the profile's, then what was stated
    text = body["assistant_message"]["content"]
    assert not any(CATALOG[item_id]["name"] in text for item_id in forbidden)
    if provider == "model":
        [asked] = [r for r in fake.requests if "<candidates>" in r.body["messages"][0]["content"]]
        assert not set(dict(offered(asked.body))) & set(forbidden)
    detail = api(alice).get(f"/api/v1/sessions/{session_id}").json()
    assert detail["constraints"] == body["constraints"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", ["offline", "model"])
def test_a_meat_stated_in_english_is_never_on_a_card(mode, provider, bob, api, open_session, request):
    forbidden = ruled_out(allergen="pork")
    if provider == "model":
        adversary(request.getfixturevalue("fake_openai"), forbidden)
    session_id = open_session(bob)
    body = turn(mode, bob, api, session_id, PORK)
    assert body["constraints"]["allergens"] == ["pork"]
    for card in body["recommendations"]:
        assert not breaks(card["item"]["external_id"], allergen="pork")
        assert "pork" in card["checks"]["allergens"]
    assert "양념 돼지갈비" not in body["assistant_message"]["content"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", ["offline", "model"])
def test_a_korean_price_cap_binds_and_is_on_the_receipt(mode, provider, alice, api, open_session, request):
    forbidden = ruled_out(cap=10_000)
    if provider == "model":
        adversary(request.getfixturevalue("fake_openai"), forbidden)
    session_id = open_session(alice)
    body = turn(mode, alice, api, session_id, CAP)
    assert body["constraints"]["max_price"] == 10_000
    assert body["recommendations"], body["assistant_message"]["content"]
    for card in body["recommendations"]:
        assert card["item"]["price"] is None or card["item"]["price"] <= 10_000
        assert card["checks"]["max_price"] == 10_000


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("provider", ["offline", "model"])
def test_thanks_gets_no_candidate_block_and_no_card(mode, provider, bob, api, open_session, request):
    if provider == "model":
        fake = request.getfixturevalue("fake_openai")
        adversary(fake, ["haeundae-dwaeji-galbi:1", "haeundae-hanwoo:2"])
    session_id = open_session(bob)
    body = turn(mode, bob, api, session_id, THANKS)
    assert body["recommendations"] == []
    if provider == "offline":
        assert "Nothing" not in body["assistant_message"]["content"]
    else:
        [asked] = fake.requests
        assert offered(asked.body) == []
        assert "asked for nothing" in asked.body["messages"][0]["content"]


def test_what_was_stated_binds_the_later_turns_and_only_this_session(alice, api, open_session):
    first = open_session(alice)
    send(api(alice), first, SHRIMP)
    later = send(api(alice), first, "Something with seafood then?").json()
    assert later["constraints"]["allergens"] == ["crustacean"]
    for card in later["recommendations"]:
        assert not breaks(card["item"]["external_id"], allergen="crustacean")
    other = open_session(alice)
    fresh = send(api(alice), other, "저녁 뭐 먹지?").json()
    assert fresh["constraints"]["allergens"] == []
    assert api(alice).get(f"/api/v1/sessions/{other}").json()["constraints"]["allergens"] == []


def test_nothing_fits_is_said_with_the_rule_and_no_forbidden_name(bob, api, open_session):
    session_id = open_session(bob)
    client = api(bob)
    client.put(f"/api/v1/sessions/{session_id}/constraints", {"kinds": ["activity"]}, format="json")
    body = send(client, session_id, "A night yacht tour under 5,000 won?").json()
    assert body["constraints"]["max_price"] == 4999  # under 5,000 won: an item at 5,000 breaks it
    assert body["recommendations"] == []
    text = body["assistant_message"]["content"]
    assert "Nothing I may recommend fits your rules right now" in text
    assert "under 5,000 KRW" in text
    assert "요트" not in text


def test_the_model_noting_a_rule_tightens_this_turn_and_the_next(alice, api, open_session, fake_openai):
    def make(items):
        proposals = [{"item_id": item_id, "reason": "fits"} for item_id, _ in items[:3]]
        noted = {"allergens": ["sesame", "not-a-code"], "diets": [], "max_price": None, "exclude_tags": []}
        return {"mood": None, "noted": noted, "recommendations": proposals, "reply": "Here you go."}

    answering(fake_openai, make)
    session_id = open_session(alice)
    body = send(api(alice), session_id, "매운 저녁 추천해 주세요").json()
    assert body["constraints"]["allergens"] == ["sesame"]
    for card in body["recommendations"]:
        assert not breaks(card["item"]["external_id"], allergen="sesame")
        assert card["checks"]["allergens"] == ["peanut", "sesame"]
    send(api(alice), session_id, "또 추천해 주세요")
    [_, second] = [r for r in fake_openai.requests if "<candidates>" in r.body["messages"][0]["content"]]
    assert not any(breaks(item_id, allergen="sesame") for item_id, _ in offered(second.body))


def test_the_model_saying_the_customer_may_eat_peanuts_now_changes_nothing(alice, api, open_session, fake_openai):
    peanut_items = ruled_out(allergen="peanut")

    def make(items):
        loosen = {"allergens": [], "diets": [], "max_price": 10**9, "exclude_tags": []}
        proposals = [{"item_id": item_id, "reason": "peanuts are fine now"} for item_id in peanut_items[:3]]
        return {
            "mood": None,
            "noted": loosen,
            "recommendations": proposals,
            "reply": "The customer may eat peanuts now.",
        }

    answering(fake_openai, make)
    session_id = open_session(alice)
    client = api(alice)
    client.put(f"/api/v1/sessions/{session_id}/constraints", {"max_price": 20_000}, format="json")
    body = send(client, session_id, "땅콩 괜찮아요, 땅콩 요리 추천해 줘").json()
    assert body["recommendations"] == []
    assert body["constraints"]["max_price"] == 20_000  # a higher cap from the model loosens nothing
    [asked] = fake_openai.requests
    assert not set(dict(offered(asked.body))) & set(peanut_items)
    assert "peanut" in asked.body["messages"][0]["content"]  # still in the profile's rules


def test_the_customer_replaces_the_constraints_and_only_valid_codes_are_taken(alice, bob, api, open_session):
    session_id = open_session(alice)
    client = api(alice)
    send(client, session_id, SHRIMP)
    path = f"/api/v1/sessions/{session_id}/constraints"
    for bad in (
        {"allergens": ["shrimp"]},
        {"diets": ["paleo"]},
        {"kinds": ["boat"]},
        {"max_price": -1},
        {"exclude_tags": [""]},
        {"colour": "red"},
    ):
        assert_problem(client.put(path, bad, format="json"), 400, "invalid_request")
    assert client.get(f"/api/v1/sessions/{session_id}").json()["constraints"]["allergens"] == ["crustacean"]
    new = {"allergens": ["sesame"], "diets": ["vegan"], "max_price": 15000, "exclude_tags": ["Spicy"], "kinds": []}
    response = client.put(path, new, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["constraints"] == {**new, "exclude_tags": ["spicy"]}
    assert response.json()["id"] == str(session_id)
    relaxed = send(client, session_id, "새우 요리 추천해 주세요").json()  # crustacean was removed by the customer
    assert relaxed["constraints"]["allergens"] == ["sesame"]
    assert_problem(api(bob).put(path, new, format="json"), 404, "not_found")
    assert_problem(client.put(f"/api/v1/sessions/{uuid.uuid4()}/constraints", new, format="json"), 404, "not_found")


def test_the_constraints_go_with_the_session(alice, api, open_session):
    session_id = open_session(alice)
    client = api(alice)
    send(client, session_id, SHRIMP)
    assert raw_redis().exists(store.session_keys(session_id).constraints)
    assert client.delete(f"/api/v1/sessions/{session_id}").status_code == 204
    assert not raw_redis().exists(store.session_keys(session_id).constraints)
