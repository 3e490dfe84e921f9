"""Allergen and diet codes, their Korean and English synonyms, the bitmasks the hard rules use, and area names.

A customer's allergies and diets, and a catalog item's allergens and diets, are stored as these codes. Free text
(what a customer or staff writes) maps to codes through `parse`; text that maps to none is kept as a note. Matching
ignores case and blanks: "Tree Nut", "tree-nut" and "treenut" are one term.
"""

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

# The order is the bit order of the masks: never reorder, only append (masks are stored in the database).
ALLERGENS: tuple[str, ...] = (
    "peanut",
    "tree_nut",
    "milk",
    "egg",
    "wheat",
    "buckwheat",
    "soy",
    "fish",
    "crustacean",
    "mollusc",
    "sesame",
    "pork",
    "beef",
    "chicken",
    "peach",
    "tomato",
    "sulphite",
    "celery",
    "mustard",
    "lupin",
)
DIETS: tuple[str, ...] = ("vegetarian", "vegan", "halal", "gluten_free")

# An ISO 4217 currency code, for the profile, the catalog and the import alike.
CURRENCY_CODE = r"^[A-Z]{3}\Z"

ALLERGEN_BITS: dict[str, int] = {code: 1 << i for i, code in enumerate(ALLERGENS)}
DIET_BITS: dict[str, int] = {code: 1 << i for i, code in enumerate(DIETS)}

# term -> codes. Each code is also its own synonym (with "_" read as a blank). Keys are written naturally here and
# normalized once below.
_ALLERGEN_SYNONYMS: dict[str, tuple[str, ...]] = {
    # peanut
    "peanut": ("peanut",),
    "peanuts": ("peanut",),
    "groundnut": ("peanut",),
    "땅콩": ("peanut",),
    "피넛": ("peanut",),
    # tree nuts
    "tree nut": ("tree_nut",),
    "tree nuts": ("tree_nut",),
    "nuts": ("tree_nut",),
    "walnut": ("tree_nut",),
    "almond": ("tree_nut",),
    "cashew": ("tree_nut",),
    "pistachio": ("tree_nut",),
    "hazelnut": ("tree_nut",),
    "pecan": ("tree_nut",),
    "pine nut": ("tree_nut",),
    "견과류": ("tree_nut",),
    "견과": ("tree_nut",),
    "호두": ("tree_nut",),
    "아몬드": ("tree_nut",),
    "잣": ("tree_nut",),
    "캐슈넛": ("tree_nut",),
    "피스타치오": ("tree_nut",),
    # milk
    "milk": ("milk",),
    "dairy": ("milk",),
    "lactose": ("milk",),
    "cheese": ("milk",),
    "butter": ("milk",),
    "cream": ("milk",),
    "우유": ("milk",),
    "유제품": ("milk",),
    "유당": ("milk",),
    "치즈": ("milk",),
    # egg
    "egg": ("egg",),
    "eggs": ("egg",),
    "계란": ("egg",),
    "달걀": ("egg",),
    "난류": ("egg",),
    # wheat
    "wheat": ("wheat",),
    "gluten": ("wheat",),
    "flour": ("wheat",),
    "밀": ("wheat",),
    "밀가루": ("wheat",),
    "글루텐": ("wheat",),
    # buckwheat
    "buckwheat": ("buckwheat",),
    "soba": ("buckwheat",),
    "메밀": ("buckwheat",),
    # soy
    "soy": ("soy",),
    "soya": ("soy",),
    "soybean": ("soy",),
    "soybeans": ("soy",),
    "tofu": ("soy",),
    "대두": ("soy",),
    "콩": ("soy",),
    "두부": ("soy",),
    # fish
    "fish": ("fish",),
    "생선": ("fish",),
    "어류": ("fish",),
    "고등어": ("fish",),
    "연어": ("fish",),
    "참치": ("fish",),
    # crustacean / mollusc
    "crustacean": ("crustacean",),
    "crustaceans": ("crustacean",),
    "shrimp": ("crustacean",),
    "prawn": ("crustacean",),
    "crab": ("crustacean",),
    "lobster": ("crustacean",),
    "갑각류": ("crustacean",),
    "새우": ("crustacean",),
    "게": ("crustacean",),
    "꽃게": ("crustacean",),
    "랍스터": ("crustacean",),
    "shellfish": ("crustacean", "mollusc"),
    "seafood": ("crustacean", "mollusc"),
    "해산물": ("crustacean", "mollusc"),
    "mollusc": ("mollusc",),
    "molluscs": ("mollusc",),
    "mollusk": ("mollusc",),
    "mollusks": ("mollusc",),
    "clam": ("mollusc",),
    "oyster": ("mollusc",),
    "mussel": ("mollusc",),
    "squid": ("mollusc",),
    "octopus": ("mollusc",),
    "조개": ("mollusc",),
    "조개류": ("mollusc",),
    "굴": ("mollusc",),
    "오징어": ("mollusc",),
    "문어": ("mollusc",),
    "낙지": ("mollusc",),
    "쭈꾸미": ("mollusc",),
    "주꾸미": ("mollusc",),
    "홍합": ("mollusc",),
    "전복": ("mollusc",),
    # sesame
    "sesame": ("sesame",),
    "참깨": ("sesame",),
    "깨": ("sesame",),
    "참기름": ("sesame",),
    # meats
    "pork": ("pork",),
    "돼지고기": ("pork",),
    "돼지": ("pork",),
    "beef": ("beef",),
    "소고기": ("beef",),
    "쇠고기": ("beef",),
    "chicken": ("chicken",),
    "닭고기": ("chicken",),
    "닭": ("chicken",),
    # fruit and vegetables
    "peach": ("peach",),
    "peaches": ("peach",),
    "복숭아": ("peach",),
    "tomato": ("tomato",),
    "tomatoes": ("tomato",),
    "토마토": ("tomato",),
    "celery": ("celery",),
    "셀러리": ("celery",),
    "샐러리": ("celery",),
    # others
    "sulphite": ("sulphite",),
    "sulphites": ("sulphite",),
    "sulfite": ("sulphite",),
    "sulfites": ("sulphite",),
    "아황산": ("sulphite",),
    "아황산류": ("sulphite",),
    "mustard": ("mustard",),
    "겨자": ("mustard",),
    "머스타드": ("mustard",),
    "lupin": ("lupin",),
    "lupine": ("lupin",),
    "루핀": ("lupin",),
}
_DIET_SYNONYMS: dict[str, tuple[str, ...]] = {
    "vegetarian": ("vegetarian",),
    "veggie": ("vegetarian",),
    "채식": ("vegetarian",),
    "채식주의": ("vegetarian",),
    "채식주의자": ("vegetarian",),
    "베지테리언": ("vegetarian",),
    "vegan": ("vegan",),
    "plant based": ("vegan",),
    "비건": ("vegan",),
    "완전채식": ("vegan",),
    "halal": ("halal",),
    "할랄": ("halal",),
    "gluten free": ("gluten_free",),
    "glutenfree": ("gluten_free",),
    "no gluten": ("gluten_free",),
    "글루텐프리": ("gluten_free",),
    "글루텐 프리": ("gluten_free",),
    "무글루텐": ("gluten_free",),
}

_BLANKS = re.compile(r"[\s_\-·.]+")


def normalize_term(text: str) -> str:
    """The matching key of a term: NFKC, lower case, without blanks, underscores, hyphens or dots."""
    return _BLANKS.sub("", unicodedata.normalize("NFKC", text).casefold())


def _table(synonyms: dict[str, tuple[str, ...]], codes: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    table = {normalize_term(code): (code,) for code in codes}
    for term, mapped in synonyms.items():
        assert all(code in codes for code in mapped), term
        table[normalize_term(term)] = mapped
    return table


ALLERGEN_TERMS: dict[str, tuple[str, ...]] = _table(_ALLERGEN_SYNONYMS, ALLERGENS)
DIET_TERMS: dict[str, tuple[str, ...]] = _table(_DIET_SYNONYMS, DIETS)
# The two tables never share a term, so a term means one thing.
assert not set(ALLERGEN_TERMS) & set(DIET_TERMS)


@dataclass(frozen=True, slots=True)
class Parsed:
    """Free text sorted into codes (in vocabulary order) and notes (the text that maps to no code, as written)."""

    allergies: tuple[str, ...]
    diets: tuple[str, ...]
    notes: tuple[str, ...]


def parse(texts: Iterable[str]) -> Parsed:
    """Map each text (a term such as "땅콩", "Shellfish", "gluten free") to codes; unmapped texts become notes."""
    allergies: set[str] = set()
    diets: set[str] = set()
    notes: list[str] = []
    for text in texts:
        key = normalize_term(text)
        if not key:
            continue
        if key in ALLERGEN_TERMS:
            allergies.update(ALLERGEN_TERMS[key])
        elif key in DIET_TERMS:
            diets.update(DIET_TERMS[key])
        elif text.strip() not in notes:
            notes.append(text.strip())
    return Parsed(
        allergies=tuple(c for c in ALLERGENS if c in allergies),
        diets=tuple(c for c in DIETS if c in diets),
        notes=tuple(notes),
    )


def allergen_codes(texts: Iterable[str]) -> tuple[str, ...]:
    """The allergen codes that `texts` name (codes or synonyms); the rest is ignored."""
    return parse(texts).allergies


def unknown(codes: Iterable[object], vocabulary: tuple[str, ...]) -> list[object]:
    """The entries of `codes` that are not exactly codes of `vocabulary`."""
    return [code for code in codes if code not in vocabulary]


def allergen_mask(codes: Iterable[str]) -> int:
    """The bitmask of allergen codes; a synonym counts as its codes, so a stored "peanuts" still means peanut."""
    mask = 0
    for text in codes:
        for code in ALLERGEN_TERMS.get(normalize_term(text), ()):
            mask |= ALLERGEN_BITS[code]
    return mask


def diet_mask(codes: Iterable[str]) -> int:
    mask = 0
    for text in codes:
        for code in DIET_TERMS.get(normalize_term(text), ()):
            mask |= DIET_BITS[code]
    return mask


def codes_of_mask(mask: int, vocabulary: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(code for i, code in enumerate(vocabulary) if mask & (1 << i))


# --- areas ----------------------------------------------------------------------------------------------------
# Names a request may use for an area, mapped to the catalog's area value. Matched as whole normalized tokens or,
# for Korean, as the start of a token ("마포에서" names 마포).
AREAS: dict[str, tuple[str, ...]] = {
    "Seoul, Mapo-gu": (
        "mapo",
        "mapogu",
        "마포",
        "마포구",
        "hongdae",
        "홍대",
        "yeonnam",
        "연남",
        "연남동",
        "hapjeong",
        "합정",
        "mangwon",
        "망원",
        "sangsu",
        "상수",
    ),
    "Seoul, Gangnam-gu": (
        "gangnam",
        "gangnamgu",
        "강남",
        "강남구",
        "sinsa",
        "신사",
        "apgujeong",
        "압구정",
        "cheongdam",
        "청담",
        "yeoksam",
        "역삼",
        "samseong",
        "삼성동",
        "garosugil",
        "가로수길",
    ),
    "Seoul, Jongno-gu": ("jongno", "종로", "종로구", "insadong", "인사동", "ikseondong", "익선동", "bukchon", "북촌"),
    "Seoul, Yongsan-gu": ("yongsan", "용산", "용산구", "itaewon", "이태원", "hannam", "한남"),
    "Seoul, Seongdong-gu": ("seongdong", "성동", "성동구", "seongsu", "성수", "성수동"),
    "Busan, Haeundae-gu": (
        "haeundae",
        "haeundaegu",
        "해운대",
        "해운대구",
        "songjeong",
        "송정",
        "centum",
        "센텀",
        "marine city",
        "마린시티",
        "dalmaji",
        "달맞이",
    ),
    "Busan, Suyeong-gu": ("suyeong", "수영", "수영구", "gwangalli", "광안리"),
    "Busan, Jung-gu": ("nampo", "남포", "남포동", "jagalchi", "자갈치"),
}
_AREA_TOKENS: dict[str, str] = {normalize_term(alias): area for area, aliases in AREAS.items() for alias in aliases}
_KOREAN = re.compile(r"[\uac00-\ud7a3]")


def area_named_in(text: str) -> str | None:
    """The catalog area that `text` names ("in Mapo", "마포에서", "Haeundae beach"), or None."""
    for raw in re.findall(r"[\w]+", unicodedata.normalize("NFKC", text).casefold()):
        token = normalize_term(raw)
        if token in _AREA_TOKENS:
            return _AREA_TOKENS[token]
        if _KOREAN.match(token):  # Korean particles follow the noun: 마포에서, 강남역, 해운대의
            for alias, area in _AREA_TOKENS.items():
                if len(alias) >= 2 and _KOREAN.match(alias) and token.startswith(alias):
                    return area
    return None
