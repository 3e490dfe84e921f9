"""Unknown is not "free of", through the API with the demo catalog, the offline provider and the fake OpenAI server
(scripted to propose the forbidden venues): a venue is judged by its dishes, an item's own text binds, and an item
whose allergens are not declared reaches only a customer with no allergy, with a receipt that claims no check."""

import pytest

from customers import services as customers
from customers.models import CatalogItem
from tests.chat.support import answering, offered

pytestmark = pytest.mark.django_db

PEANUT_VENUE = "mapo-peanut-noodle"
SHELLFISH = {"crustacean", "mollusc"}


@pytest.fixture(autouse=True)
def demo_catalog():
    customers.catalog_demo_seed()


def send(api, customer, open_session, content: str) -> dict:
    response = api(customer).post(
        f"/api/v1/sessions/{open_session(customer)}/messages", {"content": content}, format="json"
    )
    assert response.status_code == 201, response.content
    return response.json()


def venue_and_dishes(venue: str) -> set[str]:
    return {venue, *CatalogItem.objects.filter(venue__external_id=venue).values_list("external_id", flat=True)}


def shellfish_ids() -> set[str]:
    """Every item that contains or mentions a crustacean or a mollusc, or whose allergens are unknown."""
    return {
        item.external_id
        for item in CatalogItem.objects.all()
        if item.allergens is None or SHELLFISH & {*item.allergens, *item.mentions}
    }


def card_ids(turn: dict) -> set[str]:
    return {card["item"]["external_id"] for card in turn["recommendations"]}


def propose(fake, forbidden: list[str]) -> None:
    """The scripted model proposes the forbidden items first, then the first offered one, and names them all."""
    names = [CatalogItem.objects.get(external_id=i).name for i in forbidden]  # read here: the server has no database

    def make(items):
        proposals = [{"item_id": i, "reason": "Perfect for you."} for i in forbidden]
        if items:
            proposals.append({"item_id": items[0][0], "reason": "Also good."})
        return {"mood": None, "recommendations": proposals, "reply": f"Try {', '.join(names)}."}

    answering(fake, make)


def test_alice_asking_for_peanut_noodles_gets_no_card_of_the_peanut_venue_offline(alice, api, open_session):
    turn = send(api, alice, open_session, "땅콩국수 먹고 싶어요")
    assert turn["provider"] == "offline"
    assert not card_ids(turn) & venue_and_dishes(PEANUT_VENUE)
    assert "땅콩국수 연구소" not in turn["assistant_message"]["content"]


def test_alice_asking_for_peanut_noodles_gets_no_card_of_the_peanut_venue_from_a_model(
    alice, api, open_session, fake_openai
):
    forbidden = sorted(venue_and_dishes(PEANUT_VENUE))
    propose(fake_openai, forbidden)
    turn = send(api, alice, open_session, "땅콩국수 먹고 싶어요")
    assert turn["provider"] == "openai"
    [request] = fake_openai.requests
    assert not {item_id for item_id, _ in offered(request.body)} & set(forbidden)
    assert not card_ids(turn) & set(forbidden)
    text = turn["assistant_message"]["content"]
    for item_id in forbidden:
        assert CatalogItem.objects.get(external_id=item_id).name not in text


def test_bob_asking_for_seafood_in_mapo_gets_no_shellfish_venue_offline(bob, api, open_session):
    turn = send(api, bob, open_session, "seafood dinner in Mapo?")
    assert not card_ids(turn) & shellfish_ids()
    for card in turn["recommendations"]:
        assert set(card["checks"]["allergens"]) == SHELLFISH  # checked against declared lists


def test_bob_asking_for_seafood_in_mapo_gets_no_shellfish_venue_from_a_model(bob, api, open_session, fake_openai):
    forbidden = ["mapo-bul-jjukkumi", "haeundae-jogae", "haeundae-daege", "mapo-hanok-makgeolli:pajeon"]
    propose(fake_openai, forbidden)
    turn = send(api, bob, open_session, "seafood dinner in Mapo?")
    [request] = fake_openai.requests
    assert not {item_id for item_id, _ in offered(request.body)} & shellfish_ids()
    assert not card_ids(turn) & shellfish_ids()
    assert "Bul Jjukkumi" not in turn["assistant_message"]["content"]
    assert "불쭈꾸미" not in turn["assistant_message"]["content"]


DANA = {"home_area": "Seoul, Mapo-gu", "preferred_language": "en", "monthly_limit_minor": 100_000, "allergies": []}


@pytest.fixture
def mystery_bistro():
    """A Mapo restaurant that declares no allergens (unknown), and one dish that does not either."""
    bistro = CatalogItem.objects.create(
        external_id="mapo-mystery-bistro", kind="restaurant", name="Mystery Bistro", area="Seoul, Mapo-gu",
        tags=["bistro", "비스트로"], allergens=None,
    )  # fmt: skip
    CatalogItem.objects.create(
        external_id="mapo-mystery-bistro:1", kind="dish", name="Chef's plate", area="Seoul, Mapo-gu",
        tags=["bistro"], allergens=None, venue=bistro, price_minor=15_000,
    )  # fmt: skip
    return bistro


def test_a_customer_with_no_allergy_still_gets_a_venue_whose_allergens_are_unknown_and_is_told(
    make_customer, api, open_session, mystery_bistro
):
    dana = make_customer("dana", **DANA)
    turn = send(api, dana, open_session, "a bistro dinner in Mapo")
    [card] = [c for c in turn["recommendations"] if c["item"]["external_id"] == "mapo-mystery-bistro"]
    assert card["checks"]["allergens"] == []  # nothing was checked: nothing is declared
    assert card["checks"]["dishes"] == ["mapo-mystery-bistro:1"]
    assert "Allergens not declared for: Mystery Bistro" in turn["assistant_message"]["content"]


def test_the_model_is_told_which_candidates_declare_no_allergens(
    make_customer, api, open_session, fake_openai, mystery_bistro
):
    dana = make_customer("dana", **DANA)
    answering(fake_openai, lambda items: {"mood": None, "recommendations": [], "reply": "Hi."})
    send(api, dana, open_session, "a bistro dinner in Mapo")
    [request] = fake_openai.requests
    system = request.body["messages"][0]["content"]
    [line] = [line for line in system.splitlines() if line.startswith("- item_id: mapo-mystery-bistro |")]
    assert "| allergens not declared" in line


def test_a_customer_with_any_allergy_never_gets_it(alice, api, open_session, fake_openai, mystery_bistro):
    assert not card_ids(send(api, alice, open_session, "비스트로 저녁 마포에서")) & {"mapo-mystery-bistro"}
    propose(fake_openai, ["mapo-mystery-bistro", "mapo-mystery-bistro:1"])
    turn = send(api, alice, open_session, "비스트로 저녁 마포에서")
    assert not card_ids(turn) & {"mapo-mystery-bistro", "mapo-mystery-bistro:1"}
    assert "Mystery Bistro" not in turn["assistant_message"]["content"]
