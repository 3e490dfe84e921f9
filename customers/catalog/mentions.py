"""The allergens an item's own text mentions: its name, description and tags read with the vocabulary's synonyms.

What an item says about itself binds as much as what it declares ("땅콩국수", "peanut sauce", "shrimp"): the mentions
are computed at import (and on every save) into the stored rule facts, never per turn.

Reading, longest term first at each place:
- English words whole (a plural as its singular: "clams" is clam), up to three words a term ("tree nut");
- a Korean word of two or more syllables anywhere inside a word (땅콩 in 땅콩국수, 새우 in 새우튀김이), a one-syllable
  one (게, 굴, 밀, 콩, 깨, 닭, 잣) only at a word's start (게장, 굴국밥; not 가게 or 얼굴);
- a diet term ("gluten free", "글루텐 프리", read as one word) or one of `_NOT_AN_ALLERGEN` mentions nothing and,
  being longer, hides the allergen term inside it; `_COMPOUNDS` name the allergen of a compound where a shorter term
  inside it would name another (peanut butter is no milk; 굴비 is a fish).
"""

import functools
import re
import unicodedata
from collections.abc import Iterable

from customers.catalog import vocabulary

_COMPOUNDS: dict[str, tuple[str, ...]] = {
    "peanut butter": ("peanut",),
    "almond milk": ("tree_nut",),
    "soy milk": ("soy",),
    "buckwheat flour": ("buckwheat",),
    "밀크": ("milk",),
    "굴비": ("fish",),
}
_NOT_AN_ALLERGEN = ("coconut milk", "oat milk", "rice flour", "코코넛밀크", "오트밀크", "깨끗", "게스트", "게임")

_TABLE: dict[str, tuple[str, ...]] = {
    **vocabulary.ALLERGEN_TERMS,
    **{term: () for term in vocabulary.DIET_TERMS},
    **{vocabulary.normalize_term(term): codes for term, codes in _COMPOUNDS.items()},
    **{vocabulary.normalize_term(term): () for term in _NOT_AN_ALLERGEN},
}
_HANGUL_WORD = re.compile(r"[\uac00-\ud7a3]+")
_KOREAN_FREE = re.compile(r"(?<=[\uac00-\ud7a3])\s+(?=프리)")  # "글루텐 프리" is one word: 글루텐프리
_LATIN_WORD = re.compile(r"[a-z]+")
_HANGUL_TERMS: dict[str, list[str]] = {}  # first syllable -> the terms starting with it, longest first
for _key in sorted((t for t in _TABLE if _HANGUL_WORD.fullmatch(t)), key=len, reverse=True):
    _HANGUL_TERMS.setdefault(_key[0], []).append(_key)
_MAX_WORDS = 3


def mentioned(texts: Iterable[str]) -> tuple[str, ...]:
    """The allergen codes that `texts` mention, in vocabulary order."""
    found = frozenset().union(*map(_of_text, texts))
    return tuple(code for code in vocabulary.ALLERGENS if code in found) if found else ()


@functools.lru_cache(maxsize=8192)  # tags and names repeat across a catalog
def _of_text(text: str) -> frozenset[str]:
    folded = _KOREAN_FREE.sub("", unicodedata.normalize("NFKC", text).casefold())
    found = _latin(_LATIN_WORD.findall(folded))
    found.update(*map(_hangul, _HANGUL_WORD.findall(folded)))
    return frozenset(found)


def _latin(words: list[str]) -> set[str]:
    found: set[str] = set()
    if _LATIN_STARTS.isdisjoint(words):  # most texts: no word starts any English term
        return found
    i = 0
    while i < len(words):
        step = 1
        if words[i] in _LATIN_STARTS:  # longest first: three words joined, two, one
            for size in range(min(_MAX_WORDS, len(words) - i), 0, -1):
                codes = _LATIN_FORMS.get("".join(words[i : i + size]))
                if codes is not None:
                    found.update(codes)
                    step = size
                    break
        i += step
    return found


def _term(key: str) -> tuple[str, ...] | None:
    """The codes of an English term, or of its singular; None when the vocabulary does not know it."""
    for candidate in (key, key[:-1] if key.endswith("s") else None, key[:-2] if key.endswith("es") else None):
        if candidate and candidate in _TABLE:
            return _TABLE[candidate]
    return None


# Every English key `_term` knows (a term, or its plural in "-s" or "-es") and its codes: one look-up a key.
_LATIN_FORMS: dict[str, tuple[str, ...]] = {
    form: codes
    for term in _TABLE
    if term.isascii()
    for form in (term, term + "s", term + "es")
    if (codes := _term(form)) is not None
}
# Every start of such a key: a word none starts with begins no term (words join without their blanks), so it is
# skipped at once.
_LATIN_STARTS = frozenset(form[:end] for form in _LATIN_FORMS for end in range(1, len(form) + 1))


@functools.lru_cache(maxsize=8192)  # a catalog's Korean words repeat far more than its texts
def _hangul(word: str) -> frozenset[str]:
    found: set[str] = set()
    i = 0
    while i < len(word):
        starting = _HANGUL_TERMS.get(word[i], ())
        term = next((t for t in starting if word.startswith(t, i) and (len(t) > 1 or i == 0)), None)
        if term is None:
            i += 1
            continue
        found.update(_TABLE[term])
        i += len(term)
    return frozenset(found)
