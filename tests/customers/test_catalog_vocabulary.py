"""The allergen and diet vocabulary: the contract's codes, every synonym, notes for the rest, masks, area names."""

import pytest

from customers import services
from customers.catalog import vocabulary
from customers.catalog.vocabulary import _ALLERGEN_SYNONYMS, _DIET_SYNONYMS

# The contract's list, as written there.
CONTRACT_ALLERGENS = """peanut, tree_nut, milk, egg, wheat, buckwheat, soy, fish, crustacean, mollusc, sesame, pork,
beef, chicken, peach, tomato, sulphite, celery, mustard, lupin""".replace("\n", " ").split(", ")
CONTRACT_DIETS = ["vegetarian", "vegan", "halal", "gluten_free"]

# The issue's own examples, spelled out.
ISSUE_EXAMPLES = {
    "땅콩": ({"peanut"}, set()),
    "peanuts": ({"peanut"}, set()),
    "갑각류": ({"crustacean"}, set()),
    "새우": ({"crustacean"}, set()),
    "게": ({"crustacean"}, set()),
    "shellfish": ({"crustacean", "mollusc"}, set()),
    "조개": ({"mollusc"}, set()),
    "굴": ({"mollusc"}, set()),
    "오징어": ({"mollusc"}, set()),
    "밀": ({"wheat"}, set()),
    "글루텐": ({"wheat"}, set()),
    "gluten": ({"wheat"}, set()),
    "채식": (set(), {"vegetarian"}),
    "비건": (set(), {"vegan"}),
    "할랄": (set(), {"halal"}),
    "글루텐프리": (set(), {"gluten_free"}),
    "우유": ({"milk"}, set()),
    "유제품": ({"milk"}, set()),
    "dairy": ({"milk"}, set()),
    "lactose": ({"milk"}, set()),
    "계란": ({"egg"}, set()),
    "달걀": ({"egg"}, set()),
    "대두": ({"soy"}, set()),
    "콩": ({"soy"}, set()),
    "참깨": ({"sesame"}, set()),
    "생선": ({"fish"}, set()),
    "돼지고기": ({"pork"}, set()),
    "소고기": ({"beef"}, set()),
    "닭고기": ({"chicken"}, set()),
    "tree nut": ({"tree_nut"}, set()),
    "호두": ({"tree_nut"}, set()),
    "아몬드": ({"tree_nut"}, set()),
    "견과류": ({"tree_nut"}, set()),
    "메밀": ({"buckwheat"}, set()),
    "복숭아": ({"peach"}, set()),
    "토마토": ({"tomato"}, set()),
}


def test_the_codes_are_the_contracts_in_its_order():
    assert list(vocabulary.ALLERGENS) == CONTRACT_ALLERGENS
    assert list(vocabulary.DIETS) == CONTRACT_DIETS
    assert services.ALLERGEN_CODES == vocabulary.ALLERGENS
    assert services.DIET_CODES == vocabulary.DIETS


@pytest.mark.parametrize(("term", "expected"), ISSUE_EXAMPLES.items(), ids=list(ISSUE_EXAMPLES))
def test_the_issues_synonyms(term, expected):
    parsed = vocabulary.parse([term])
    assert (set(parsed.allergies), set(parsed.diets), parsed.notes) == (*expected, ())


@pytest.mark.parametrize(("term", "codes"), _ALLERGEN_SYNONYMS.items(), ids=list(_ALLERGEN_SYNONYMS))
def test_every_allergen_synonym_maps_to_its_codes(term, codes):
    parsed = vocabulary.parse([term])
    assert (set(parsed.allergies), parsed.diets, parsed.notes) == (set(codes), (), ())


@pytest.mark.parametrize(("term", "codes"), _DIET_SYNONYMS.items(), ids=list(_DIET_SYNONYMS))
def test_every_diet_synonym_maps_to_its_codes(term, codes):
    parsed = vocabulary.parse([term])
    assert (parsed.allergies, set(parsed.diets), parsed.notes) == ((), set(codes), ())


@pytest.mark.parametrize("code", [*vocabulary.ALLERGENS, *vocabulary.DIETS])
def test_every_code_is_its_own_synonym_whatever_the_case_and_blanks(code):
    for spelling in (code, code.upper(), f"  {code.replace('_', ' ')} ", code.replace("_", "-").title()):
        parsed = vocabulary.parse([spelling])
        assert code in (*parsed.allergies, *parsed.diets), spelling
        assert parsed.notes == ()


def test_matching_ignores_case_and_blanks():
    parsed = vocabulary.parse(["  PEANUTS ", "Tree-Nuts", "gluten free", "Gluten_Free", " 글루텐 프리 "])
    assert parsed == vocabulary.Parsed(allergies=("peanut", "tree_nut"), diets=("gluten_free",), notes=())


def test_text_that_maps_to_no_code_is_kept_as_a_note_as_written():
    parsed = vocabulary.parse(["kiwi", " 키위 알레르기 ", "peanuts", "kiwi", "", "   "])
    assert parsed == vocabulary.Parsed(allergies=("peanut",), diets=(), notes=("kiwi", "키위 알레르기"))


def test_masks_are_one_bit_per_code_and_read_synonyms():
    assert vocabulary.allergen_mask(["peanut"]) == 1
    bits = vocabulary.ALLERGEN_BITS
    assert vocabulary.allergen_mask(["peanuts", "shellfish"]) == bits["peanut"] | bits["crustacean"] | bits["mollusc"]
    assert vocabulary.allergen_mask(["kiwi"]) == 0
    assert vocabulary.diet_mask(["vegan", "채식"]) == 0b11
    every = vocabulary.allergen_mask(vocabulary.ALLERGENS)
    assert every == (1 << len(vocabulary.ALLERGENS)) - 1 < 2**31  # fits the integer column
    assert vocabulary.codes_of_mask(every, vocabulary.ALLERGENS) == vocabulary.ALLERGENS


@pytest.mark.parametrize(
    ("text", "area"),
    [
        ("Something spicy in Mapo, please", "Seoul, Mapo-gu"),
        ("마포에서 매운 거", "Seoul, Mapo-gu"),
        ("홍대 근처 재즈바", "Seoul, Mapo-gu"),
        ("dinner in GANGNAM", "Seoul, Gangnam-gu"),
        ("강남역 보드게임", "Seoul, Gangnam-gu"),
        ("Haeundae beach at night", "Busan, Haeundae-gu"),
        ("해운대의 야경", "Busan, Haeundae-gu"),
        ("something spicy", None),
        ("마라탕", None),
    ],
)
def test_an_area_named_in_a_request(text, area):
    assert vocabulary.area_named_in(text) == area
