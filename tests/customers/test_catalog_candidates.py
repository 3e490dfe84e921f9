"""Candidates: no candidate ever breaks one of the customer's hard rules (property-based, on random customers and
catalogs), the eligibility check agrees exactly with the rules, the names to avoid are exactly the turn's nearest
misses (the items its search meets that fail the rules), the ranking makes sense, and a turn's read costs two
statements on PostgreSQL at any catalog size.

Runs on PostgreSQL with the suite, and on SQLite through tests/customers/test_catalog_sqlite.py.
"""

import os
from dataclasses import dataclass, replace

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from customers import services
from customers.catalog import items as catalog_items
from customers.catalog import stated, vocabulary
from customers.catalog import turn as catalog_turn
from customers.catalog.recommendations import record as recommendations_record
from customers.catalog.terms import terms
from customers.errors import CustomerNotFound
from customers.models import DERIVED_FROM, CatalogItem, Customer, Recommendation
from tests.customers.catalog_support import catalog_items_eligible

pytestmark = pytest.mark.django_db

AREAS = ("Seoul, Mapo-gu", "Seoul, Gangnam-gu", "Busan, Haeundae-gu", "")
TAGS = ("spicy", "매운맛", "korean", "한식", "jazz", "재즈", "vegan", "비건", "cafe", "카페", "hiking", "noodles")
WORDS = (*TAGS, "마포에서", "in Mapo", "Gangnam", "해운대", "something", "추천해줘", "떡볶이", "please")


# Words an item's own text may carry, and the allergens each mentions (written out here, apart from the app's
# vocabulary): the text binds whatever the item's list says.
MENTIONS = {
    "땅콩국수": {"peanut"},
    "peanut sauce": {"peanut"},
    "새우튀김": {"crustacean"},
    "shrimp": {"crustacean"},
    "쭈꾸미": {"mollusc"},
    "seafood": {"crustacean", "mollusc"},
    "치즈": {"milk"},
    "gluten": {"wheat"},
    "가게": set(),  # 게 (crab) inside a word: no mention
}


@dataclass(frozen=True)
class Spec:
    """A generated item, kept apart from the database so that the rules are checked against what was meant."""

    external_id: str
    kind: str
    price: int | None
    currency: str
    allergens: frozenset[str] | None  # None: not declared (unknown)
    diets: frozenset[str]
    food: bool
    active: bool
    tags: tuple[str, ...]
    area: str
    mention: str = ""  # a word of MENTIONS in its description
    venue: int | None = None  # a dish's restaurant: the position of another spec (kept when that one is a restaurant)


def allowed(spec: Spec, *, allergies: frozenset[str], diets: frozenset[str], currency: str, remaining: int) -> bool:
    """The contract's rules for one item on its own, written out plainly (the rated-down and the dishes rules are
    checked apart)."""
    if not spec.active:
        return False
    if spec.allergens is None and spec.food and allergies:
        return False  # unknown is not "free of"
    if (spec.allergens or frozenset()) & allergies or MENTIONS.get(spec.mention, set()) & allergies:
        return False
    if spec.food and not diets <= spec.diets:
        return False
    return spec.price is None or (spec.currency == currency and spec.price <= remaining)


def within_stated(spec: Spec, stored: services.Constraints, *, kinds: bool = True) -> bool:
    """The session's stated cap, excluded tags and (with `kinds`) kinds, for one item."""
    return (
        (stored.max_price is None or spec.price is None or spec.price <= stored.max_price)
        and not set(spec.tags) & set(stored.exclude_tags)
        and (not kinds or not stored.kinds or spec.kind in stored.kinds)
    )


def eligible_ids(
    made: list[Spec], rated_down: set[str], rules: dict, stored: services.Constraints
) -> tuple[set[str], set[str]]:
    """The items that may reach the customer: each allowed on its own, within what the session states and not rated
    down, and a restaurant with active dishes only when one of them may too (judged by every rule but the kinds
    asked for); and those dishes that serve their restaurant."""
    passing = {s.external_id for s in made if allowed(s, **rules) and s.external_id not in rated_down}
    alone = {s.external_id for s in made if s.external_id in passing and within_stated(s, stored)}
    serving = {s.external_id for s in made if s.external_id in passing and within_stated(s, stored, kinds=False)}
    dishes: dict[str, list[str]] = {}
    for spec in made:
        if spec.venue is not None and spec.active:
            dishes.setdefault(made[spec.venue].external_id, []).append(spec.external_id)
    return {i for i in alone if i not in dishes or any(dish in serving for dish in dishes[i])}, serving


item_specs = st.builds(
    Spec,
    external_id=st.just(""),
    kind=st.sampled_from(catalog_items.KINDS),
    price=st.one_of(st.none(), st.integers(0, 300_000), st.sampled_from([0, 20_000, 380_000, 380_001])),
    currency=st.sampled_from(["KRW", "KRW", "KRW", "USD"]),
    allergens=st.none() | st.frozensets(st.sampled_from(vocabulary.ALLERGENS), max_size=4),
    diets=st.frozensets(st.sampled_from(vocabulary.DIETS), max_size=3),
    food=st.booleans(),
    active=st.booleans() | st.just(True),
    tags=st.lists(st.sampled_from(TAGS), max_size=4, unique=True).map(tuple),
    area=st.sampled_from(AREAS),
    mention=st.just("") | st.sampled_from(sorted(MENTIONS)),
    venue=st.none() | st.integers(0, 24),
)
customer_specs = st.fixed_dictionaries(
    {
        # Synonyms and codes both: a profile may still hold text that the migration did not see.
        "allergies": st.lists(st.sampled_from([*vocabulary.ALLERGENS, "peanuts", "shellfish", "gluten"]), max_size=4),
        "diets": st.lists(st.sampled_from(vocabulary.DIETS), max_size=2, unique=True),
        "currency": st.sampled_from(["KRW", "KRW", "USD"]),
        "monthly_limit_minor": st.sampled_from([0, 50_000, 500_000, 380_000]),
        "spent_this_month_minor": st.sampled_from([0, 120_000, 600_000]),
        "home_area": st.sampled_from(AREAS),
        "preferences": st.lists(st.sampled_from(TAGS), max_size=3),
    }
)


# What the customer stated earlier in the session (kept with it), on top of what the request's own words state.
stored_specs = st.builds(
    services.Constraints,
    allergens=st.lists(st.sampled_from(vocabulary.ALLERGENS), max_size=2, unique=True).map(tuple),
    diets=st.lists(st.sampled_from(vocabulary.DIETS), max_size=1).map(tuple),
    max_price=st.sampled_from([None, None, 0, 20_000, 150_000]),
    exclude_tags=st.lists(st.sampled_from(TAGS), max_size=2, unique=True).map(tuple),
    kinds=st.lists(st.sampled_from(catalog_items.KINDS), max_size=3, unique=True).map(tuple),
)


def candidates(*, customer_id: int, text: str, limit: int = 8):
    return services.catalog_turn_read(customer_id=customer_id, text=text, limit=limit).candidates


def _create_items(specs: list[Spec]) -> list[Spec]:
    made = []
    rows = []
    for n, spec in enumerate(specs):
        # A venue only from a dish to a restaurant other than itself, as the import allows.
        venue = spec.venue
        if spec.kind != "dish" or venue is None or venue >= len(specs) or specs[venue].kind != "restaurant":
            venue = None
        spec = Spec(**{**spec.__dict__, "external_id": f"v{n % 4}:{n}", "venue": venue})
        made.append(spec)
        fields = {
            "external_id": spec.external_id,
            "kind": spec.kind,
            "name": f"item {n} {' '.join(spec.tags)}",
            "description": f"오늘의 {spec.mention}" if spec.mention else "",
            "area": spec.area,
            "price_minor": spec.price,
            "currency": spec.currency,
            "tags": list(spec.tags),
            "allergens": None if spec.allergens is None else sorted(spec.allergens),
            "diets": sorted(spec.diets),
            "food": spec.food,
            "active": spec.active,
        }
        derived = catalog_items.derived(**{name: fields[name] for name in DERIVED_FROM})
        rows.append(CatalogItem(**fields, **derived))
    created = CatalogItem.objects.bulk_create(rows)
    for item, spec in zip(created, made, strict=True):
        if spec.venue is not None:
            item.venue_id = created[spec.venue].pk
    CatalogItem.objects.bulk_update(created, ["venue"])
    return made


def _create_customer(username: str, **fields: object) -> int:
    user = get_user_model().objects.create_user(username=username)
    return Customer.objects.create(user=user, display_name=username, **fields).pk


@settings(
    max_examples=60,
    deadline=None,
    # No shrinking: each step is a database transaction, and a failure's first example is reported as found.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    customer=customer_specs,
    specs=st.lists(item_specs, min_size=1, max_size=25),
    down=st.sets(st.integers(0, 24), max_size=5),
    up=st.sets(st.integers(0, 24), max_size=3),
    words=st.lists(st.sampled_from(WORDS), min_size=0, max_size=5),
    limit=st.integers(1, 12),
    stored=stored_specs,
)
def test_no_candidate_ever_breaks_a_rule(customer, specs, down, up, words, limit, stored):
    with transaction.atomic():
        customer_id = _create_customer("prop", **customer)
        made = _create_items(specs)
        ids = dict(CatalogItem.objects.values_list("external_id", "pk"))
        now = timezone.now()
        rated_down = {made[i].external_id for i in down if i < len(made)}
        for i in up:
            if i < len(made):
                Recommendation.objects.create(
                    customer_id=customer_id, item_id=ids[made[i].external_id], rating="up", rated_at=now
                )
        for external_id in rated_down:  # down after up: the latest rating wins, and it is down
            Recommendation.objects.create(
                customer_id=customer_id, item_id=ids[external_id], rating="down", rated_at=now
            )

        # What the request states binds too ("vegan" among its words is a diet), and is no search word.
        said = stated.read(" ".join(words))
        assert (said.constraints.max_price, said.constraints.exclude_tags, said.constraints.kinds) == (None, (), ())
        allergies = frozenset(vocabulary.allergen_codes(customer["allergies"]))
        allergies |= {*said.constraints.allergens, *stored.allergens}
        diets = frozenset(customer["diets"]) | {*said.constraints.diets, *stored.diets}
        remaining = max(0, customer["monthly_limit_minor"] - customer["spent_this_month_minor"])
        rules = {"allergies": allergies, "diets": diets, "currency": customer["currency"], "remaining": remaining}
        expected, serving = eligible_ids(made, rated_down, rules, stored)

        read = services.catalog_turn_read(
            customer_id=customer_id, text=" ".join(words), limit=limit, constraints=stored
        )
        assert read.constraints == stated.tighten(stored, said.constraints)
        found = read.candidates
        by_id = {s.external_id: s for s in made}
        for candidate in found:
            spec = by_id[candidate.external_id]
            assert allowed(spec, **rules), (candidate, rules)
            assert candidate.external_id not in rated_down
            assert candidate.external_id in expected
            assert not set(candidate.allergens or ()) & allergies
            # A restaurant carries exactly its dishes that may reach the customer.
            assert set(candidate.dishes) == {
                d.external_id
                for d in made
                if d.venue is not None
                and made[d.venue].external_id == candidate.external_id
                and d.external_id in serving
            }
        assert len(found) <= limit
        assert len({c.external_id for c in found}) == len(found)
        assert set(c.external_id for c in found) <= expected
        # The names to avoid, read in the ranking's statement: exactly the items the rules keep out among those the
        # turn's search meets (a tag among the request's words, the preferences or the liked tags, or in the area the
        # request names; fewer here than the search's subsets take).
        text = " ".join(words)
        named = vocabulary.area_named_in(text)
        liked = {tag for i in up if i < len(made) for tag in made[i].tags}
        sought = {*terms([said.query], drop_areas=True), *terms(customer["preferences"]), *terms(liked)}
        met = {n for n, s in enumerate(made) if set(s.tags) & sought or (named and s.area == named)}
        if not said.asks:
            met = set()
        assert read.avoid_names == tuple(
            sorted(f"item {n} {' '.join(made[n].tags)}" for n in met if made[n].external_id not in expected)
        )

        # The check after a model's proposal agrees exactly with the rules, both ways.
        proposed = [s.external_id for s in made] + ["no-such-item"]
        bound = read.constraints
        assert catalog_items_eligible(customer_id=customer_id, external_ids=proposed, constraints=bound) == (expected)
        transaction.set_rollback(True)


@pytest.fixture
def demo_catalog():
    services.catalog_demo_seed()


def test_alice_asking_for_spicy_korean_food_in_mapo_gets_it_without_peanut(alice, demo_catalog):
    for text in ("Something spicy and Korean in Mapo, please", "마포에서 매운 한식 먹고 싶어"):
        found = candidates(customer_id=alice.customer_id, text=text, limit=5)
        assert len(found) == 5, text
        for candidate in found:
            assert candidate.area == "Seoul, Mapo-gu", (text, candidate)
            assert {"spicy", "매운맛"} & set(candidate.tags), (text, candidate)
            assert {"korean", "한식"} & set(candidate.tags), (text, candidate)
            assert "peanut" not in candidate.allergens
    # Peanut dishes that would fit the words exist in Mapo: the rule, not the data, kept them out.
    peanut_noodles = CatalogItem.objects.get(external_id="mapo-peanut-noodle:1")
    assert {"spicy", "korean"} <= set(peanut_noodles.tags)
    assert peanut_noodles.area == "Seoul, Mapo-gu"


def test_the_ranking_follows_the_request_and_the_area(bob, charlie, demo_catalog):
    jazz = candidates(customer_id=bob.customer_id, text="live jazz tonight", limit=3)
    assert all("jazz" in c.tags for c in jazz)
    assert jazz[0].area == "Busan, Haeundae-gu"  # bob's home area first
    gangnam = candidates(customer_id=bob.customer_id, text="jazz in Gangnam", limit=1)
    assert gangnam[0].area == "Seoul, Gangnam-gu"
    vegan = candidates(customer_id=charlie.customer_id, text="비건 음식 추천해줘", limit=5)
    assert vegan
    assert all("wheat" not in c.allergens for c in vegan)
    assert all({"vegan", "비건"} & set(c.tags) for c in vegan[:3])


def test_a_request_that_names_nothing_ranks_the_kind_it_looks_for_near_home(alice, bob, demo_catalog):
    lunch = services.catalog_turn_read(customer_id=bob.customer_id, text="lunch under 12k?", limit=8)
    assert lunch.candidates
    assert all(c.kind in ("restaurant", "dish") for c in lunch.candidates)
    assert all(c.price_minor is None or c.price_minor <= 12000 for c in lunch.candidates)
    assert lunch.candidates[0].area == "Busan, Haeundae-gu"  # near home, though bob's tastes are elsewhere too
    assert lunch.constraints.kinds == ()  # looked for this turn, never kept as the session's
    walk = candidates(customer_id=alice.customer_id, text="somewhere to walk this evening")
    assert walk
    assert all(c.kind in ("activity", "place") for c in walk)
    gift = candidates(customer_id=alice.customer_id, text="친구 선물 뭐 사지?")
    assert gift
    assert all(c.kind == "product" for c in gift)


def test_the_kind_a_request_looks_for_ranks_only_within_the_kinds_the_session_binds(alice, demo_catalog):
    # Each request looks for a kind ("somewhere to walk": places and activities; a gift: products; lunch: food) that
    # the session's kinds rule out in part or whole: what it gets stays within the session's kinds.
    for text, kinds in [
        ("somewhere to walk this evening", ("activity", "product")),
        ("친구 선물 뭐 사지?", ("activity",)),
        ("lunch?", ("place",)),
    ]:
        read = services.catalog_turn_read(
            customer_id=alice.customer_id, text=text, constraints=services.Constraints(kinds=kinds)
        )
        assert all(c.kind in kinds for c in read.candidates), (text, [c.kind for c in read.candidates])


def test_a_restaurant_is_judged_by_its_dishes_whichever_kinds_the_session_binds():
    peanut_free = Spec("", "restaurant", 20_000, "KRW", frozenset(), frozenset(), True, True, ("korean",), AREAS[0])
    dish = Spec("", "dish", 9_000, "KRW", frozenset({"peanut"}), frozenset(), True, True, ("noodles",), AREAS[0])
    made = _create_items(
        [peanut_free, replace(dish, venue=0), peanut_free, replace(dish, allergens=frozenset(), venue=2)]
    )
    customer_id = _create_customer("dana", allergies=["peanut"], monthly_limit_minor=500_000)
    served = made[2].external_id  # made[0]'s only dish has peanut
    probes = []

    def keep(execute, sql, params, many, context):
        probes.append("d.venue_id >= customers_catalogitem.id" in sql)
        return execute(sql, params, many, context)

    for kinds in [(), ("restaurant",), ("dish", "restaurant"), ("activity", "restaurant")]:
        read = services.catalog_turn_read(
            customer_id=customer_id, text="korean", constraints=services.Constraints(kinds=kinds)
        )
        assert [c.external_id for c in read.candidates if c.kind == "restaurant"] == [served], kinds
    # Kinds that leave restaurants out need no probe of their dishes: the ranking carries none.
    with connection.execute_wrapper(keep):
        services.catalog_turn_read(
            customer_id=customer_id, text="korean", constraints=services.Constraints(kinds=("activity", "place"))
        )
    assert probes
    assert not any(probes)


def test_a_request_for_what_the_catalog_lacks_or_the_rules_keep_out_gets_no_stand_in(
    make_customer, alice, charlie, demo_catalog
):
    skiing = services.catalog_turn_read(customer_id=charlie.customer_id, text="Where can I go skiing?", limit=5)
    assert skiing.asks
    assert skiing.candidates == ()
    assert candidates(customer_id=alice.customer_id, text="스키장 가고 싶어") == ()
    assert candidates(customer_id=alice.customer_id, text="Peanut butter smoothie spot?") == ()  # her allergy
    vera = make_customer("vera", home_area="Seoul, Gangnam-gu", monthly_limit_minor=100_000, diets=["vegetarian"])
    assert candidates(customer_id=vera.customer_id, text="삼겹살 맛집 알려줘") == ()  # meat for a vegetarian
    assert candidates(customer_id=charlie.customer_id, text="삼겹살 맛집 알려줘")  # no diet: it fits
    # near misses: a word of the catalog's, and an allergen stated away ("gluten-free" for charlie's wheat)
    assert candidates(customer_id=charlie.customer_id, text="Gluten-free bread or a dessert")
    assert candidates(customer_id=alice.customer_id, text="Where can I get a good bowl of gukbap?")
    assert candidates(customer_id=alice.customer_id, text="돼지고기 빼고 고기 먹고 싶어")  # meat, but for pork


def test_requests_in_other_words_find_what_they_mean(alice, bob, charlie, demo_catalog):
    # a diet said of the speaker binds and ranks near home, not the few items that carry its word as a tag
    vegetarian = candidates(customer_id=bob.customer_id, text="I'm a vegetarian, what can I eat nearby?", limit=3)
    assert vegetarian
    assert all(c.area == "Busan, Haeundae-gu" and "vegetarian" in c.diets for c in vegetarian)
    # "plant-based" is searched as "vegan": the vegan dishes, not nothing (only two restaurant rows say plant-based)
    plant = candidates(customer_id=alice.customer_id, text="Something plant-based for lunch near Hongdae?", limit=3)
    assert plant
    assert all("vegan" in c.diets for c in plant)
    # verbs in their endings are no search words ("가" would find 가로수길), a shop of a dish is the dish
    aquarium = candidates(customer_id=charlie.customer_id, text="아쿠아리움 가 볼까 하는데 어때요?", limit=3)
    assert aquarium[0].external_id == "gangnam-coex-aquarium"
    tteokbokki = candidates(customer_id=alice.customer_id, text="떡볶이집 어디 괜찮은 데 없나", limit=3)
    assert tteokbokki[0].external_id.startswith("mapo-yeonnam-tteokbokki")
    # customers' words for the catalog's
    monks = candidates(customer_id=charlie.customer_id, text="스님들이 드시는 음식 같은 거 먹어보고 싶어요", limit=3)
    assert "사찰음식" in monks[0].tags
    bike = candidates(customer_id=alice.customer_id, text="Where could I rent a bicycle by the river?", limit=3)
    assert bike[0].external_id == "mapo-mangwon-hangang-bike"
    assert "족발" in candidates(customer_id=alice.customer_id, text="pig's feet, please")[0].tags
    pottery = candidates(customer_id=alice.customer_id, text="Where can I make my own pottery?", limit=3)
    assert pottery[0].external_id == "mapo-pottery-class"
    # "매콤한" is the catalog's 매운: charlie's spicy vegan curry, not nothing (the descriptions that say 매콤한 are
    # of dishes his rules keep out)
    spicy = candidates(customer_id=charlie.customer_id, text="고기 들어간 건 안 돼요, 매콤한 거 먹고 싶어요", limit=3)
    assert spicy[0].external_id == "gangnam-sinsa-vegan:2"


def test_an_occasion_finds_what_the_catalog_offers_for_it(alice, bob, charlie, demo_catalog):
    kids = candidates(customer_id=bob.customer_id, text="taking my kids out this afternoon, any ideas?", limit=3)
    assert "family" in kids[0].tags
    cold_day = candidates(customer_id=alice.customer_id, text="오늘 너무 추운데 뜨끈한 거 먹고 싶다", limit=3)
    assert "soup" in cold_day[0].tags
    company = candidates(customer_id=bob.customer_id, text="회식 장소 추천해 주세요", limit=3)
    assert "bbq" in company[0].tags
    rainy = candidates(customer_id=charlie.customer_id, text="비도 오고 우울한데 뭐 할까", limit=3)
    assert "indoor" in rainy[0].tags


def test_an_indirect_statement_binds_the_turn_that_says_it(alice, bob, demo_catalog):
    said = services.catalog_turn_read(
        customer_id=alice.customer_id, text="갑각류 먹으면 두드러기 나요. 홍대 근처에서 저녁 먹을 데 있을까요?", limit=8
    )
    assert said.stated.allergens == ("crustacean",)
    assert said.candidates
    assert all("crustacean" not in (c.allergens or ()) for c in said.candidates)
    cap = candidates(customer_id=bob.customer_id, text="I've got like 8 thousand won, lunch?")
    assert cap
    assert all(c.price_minor is None or c.price_minor <= 8000 for c in cap)
    # "국밥 말고" rules out 국밥, not every meal
    text = "돼지고기는 좀 그래요. 국밥 말고 뭐 먹지?"
    other = services.catalog_turn_read(customer_id=bob.customer_id, text=text, limit=8)
    assert other.constraints.kinds == ()
    assert other.candidates
    assert all("pork" not in (c.allergens or ()) and "국밥" not in c.tags for c in other.candidates)


def test_candidates_are_diverse(alice, demo_catalog):
    found = candidates(customer_id=alice.customer_id, text="spicy korean", limit=10)
    venues = [c.external_id.split(":")[0] for c in found]
    assert max(venues.count(v) for v in venues) <= 2


def test_preferences_and_liked_items_boost(make_customer, demo_catalog):
    customer = make_customer("dana", home_area="Seoul, Jongno-gu", monthly_limit_minor=100_000, preferences=["yoga"])
    first = candidates(customer_id=customer.customer_id, text="something for the weekend")
    assert first
    assert all("yoga" in c.tags for c in first[:2])
    shown = recommendations_record(
        customer_id=customer.customer_id, session_id=None, recommended=[("gangnam-boardgame", "you like games")]
    )
    rec_id = shown[0].recommendation_id
    services.recommendation_rate(customer_id=customer.customer_id, recommendation_id=rec_id, rating="up")
    after = candidates(customer_id=customer.customer_id, text="something for the weekend")
    assert {"board games", "보드게임"} & {tag for c in after for tag in c.tags}


def test_a_rated_down_item_never_comes_back(alice, demo_catalog):
    text = "Something spicy and Korean in Mapo, please"
    top = candidates(customer_id=alice.customer_id, text=text, limit=1)[0]
    cid = alice.customer_id
    shown = recommendations_record(customer_id=cid, session_id=None, recommended=[(top.external_id, "")])
    services.recommendation_rate(customer_id=cid, recommendation_id=shown[0].recommendation_id, rating="down")
    again = candidates(customer_id=alice.customer_id, text=text, limit=50)
    assert top.external_id not in {c.external_id for c in again}
    assert not catalog_items_eligible(customer_id=cid, external_ids=[top.external_id])


def test_nothing_matched_means_no_candidates(make_customer, demo_catalog):
    customer = make_customer("erin", monthly_limit_minor=100_000)
    assert candidates(customer_id=customer.customer_id, text="qwertyuiop") == ()
    assert candidates(customer_id=customer.customer_id, text="") == ()


def test_the_run_uses_the_database_it_was_given(db):
    """tests/customers/test_catalog_sqlite.py reruns this file with DATABASE_URL unset: then this is SQLite."""
    assert connection.vendor == ("postgresql" if os.environ.get("DATABASE_URL") else "sqlite")


def test_an_unknown_customer_is_refused(db):
    with pytest.raises(CustomerNotFound):
        services.catalog_turn_read(customer_id=987654, text="spicy")
    with pytest.raises(CustomerNotFound):
        catalog_items_eligible(customer_id=987654, external_ids=["a"])


def _ineligible_names(customer_id: int) -> set[str]:
    every = dict(CatalogItem.objects.values_list("external_id", "name"))
    kept = catalog_items_eligible(customer_id=customer_id, external_ids=list(every))
    return {name for external_id, name in every.items() if external_id not in kept}


def test_the_names_to_avoid_are_the_turns_nearest_misses(alice, make_customer, demo_catalog):
    text = "Something spicy and Korean in Mapo, please"
    top = candidates(customer_id=alice.customer_id, text=text, limit=1)[0]
    shown = recommendations_record(customer_id=alice.customer_id, session_id=None, recommended=[(top.external_id, "")])
    services.recommendation_rate(
        customer_id=alice.customer_id, recommendation_id=shown[0].recommendation_id, rating="down"
    )
    # Peanut, as alice is allergic to it, and nothing of her turn: not her words, tastes or area.
    far = CatalogItem.objects.create(
        external_id="far-pottery", kind="activity", name="Clay Studio Evening", area="Daegu, Suseong-gu",
        tags=["pottery"], allergens=["peanut"], food=False,
    )  # fmt: skip
    read = services.catalog_turn_read(customer_id=alice.customer_id, text=text, limit=10)
    peanut = CatalogItem.objects.get(external_id="mapo-peanut-noodle:1").name
    assert {peanut, top.name} <= set(read.avoid_names)  # an allergen; rated down: both match the request
    assert far.name in _ineligible_names(alice.customer_id)
    assert far.name not in read.avoid_names  # kept out by the rules, but far from the turn: not looked for
    assert set(read.avoid_names) <= _ineligible_names(alice.customer_id)  # an eligible item is never avoided
    assert not {c.name for c in read.candidates} & set(read.avoid_names)
    assert list(read.avoid_names) == sorted(set(read.avoid_names))  # by name, each once
    # Nothing to search (no words, tastes or area): no candidates, no names from the catalog; the names they rated
    # down still come with their facts.
    erin = make_customer("erin", monthly_limit_minor=0)
    shown = recommendations_record(customer_id=erin.customer_id, session_id=None, recommended=[(top.external_id, "")])
    services.recommendation_rate(
        customer_id=erin.customer_id, recommendation_id=shown[0].recommendation_id, rating="down"
    )
    nothing = services.catalog_turn_read(customer_id=erin.customer_id, text="")
    assert (nothing.candidates, nothing.avoid_names, nothing.disliked) == ((), (), (top.name,))


def test_a_big_catalog_keeps_the_names_bounded_and_the_read_at_two_statements(make_customer, django_assert_num_queries):
    """5,000 items that all match the request, three in four over the customer's budget: at most AVOID names,
    none of an eligible item, in the ranking's statement."""
    customer = make_customer("frank", monthly_limit_minor=10_000, home_area="Seoul, Mapo-gu")
    rows = []
    for n in range(5_000):
        name, tags, area = f"spicy stew {n:04d}", ["spicy", "korean"], AREAS[n % 3]
        rows.append(
            CatalogItem(
                external_id=f"big{n % 500}:{n}", kind="dish", name=name, area=area, tags=tags, food=True,
                price_minor=5_000 if n % 4 == 0 else 50_000, currency="KRW", allergens=[],
                **catalog_items.derived(
                    name=name, kind="dish", area=area, description="", tags=tags, allergens=[], diets=[], food=True
                ),
            )
        )  # fmt: skip
    CatalogItem.objects.bulk_create(rows)
    over_budget = {row.name for row in rows if row.price_minor > 10_000}
    with django_assert_num_queries(2 if connection.vendor == "postgresql" else 3):
        read = services.catalog_turn_read(customer_id=customer.customer_id, text="매운 한식 spicy stew", limit=8)
    assert len(read.candidates) == 8
    assert len(read.avoid_names) == catalog_turn.AVOID
    assert set(read.avoid_names) <= over_budget
    assert list(read.avoid_names) == sorted(read.avoid_names)


def test_a_turn_read_costs_two_statements_on_postgresql(alice, make_customer, demo_catalog, django_assert_num_queries):
    """The customer's facts (with their tastes), then the ranking with the names to avoid; with nothing to search,
    the facts alone. SQLite, the fallback, reads the names and the restaurants' passing dishes apart from the
    ranking (each of these requests ranks a restaurant)."""
    recommendations_record(customer_id=alice.customer_id, session_id=None, recommended=[("mapo-jazz-club", "")])
    erin = make_customer("erin", monthly_limit_minor=100_000)
    postgresql = connection.vendor == "postgresql"
    for customer_id, text, ranked in (
        (alice.customer_id, "Something spicy and Korean in Mapo, please", True),
        (alice.customer_id, "재즈", True),
        (alice.customer_id, "뭐 하지?", True),
        (erin.customer_id, "", False),  # nothing to match: no ranking
    ):
        with django_assert_num_queries(1 if not ranked else 2 if postgresql else 4):
            services.catalog_turn_read(customer_id=customer_id, text=text)


@pytest.mark.skipif(not os.environ.get("DATABASE_URL"), reason="PostgreSQL's JIT")
def test_a_turn_read_is_never_jit_compiled(alice, demo_catalog):
    """The ranking statement's estimated cost passes jit_above_cost on a large catalog (the venue rule's probe is
    costed on every row a subset might read) though it runs in milliseconds, and compiling it took 200 ms and more:
    the connections run without JIT. Here the threshold is 0, so that any statement would be compiled were JIT on."""
    statements = []

    def keep(execute, sql, params, many, context):
        statements.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(keep):
        services.catalog_turn_read(customer_id=alice.customer_id, text="Something spicy and Korean in Mapo, please")
    ranking = statements[-1]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL jit_above_cost = 0")
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + ranking[0], ranking[1])
        (plan,) = cursor.fetchone()[0]
    assert "JIT" not in plan
