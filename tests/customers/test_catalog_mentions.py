"""What an item's own text mentions (customers/catalog/mentions.py): Korean terms inside words, one-syllable ones only
at a word's start, English words whole or plural, diet terms and compounds that hide the allergen inside them."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from customers.catalog import mentions
from customers.catalog.mentions import mentioned


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("땅콩국수", ("peanut",)),  # inside a compound
        ("새우튀김이 맛있어요", ("crustacean",)),  # a particle after it
        ("홍대 불쭈꾸미 (Hongdae Fire Webfoot Octopus)", ("mollusc",)),
        ("게장 정식", ("crustacean",)),  # one syllable at a word's start
        ("동네 가게", ()),  # ... and not inside a word
        ("얼굴만 한 왕만두", ()),
        ("굴국밥", ("mollusc",)),
        ("굴비 정식", ("fish",)),  # a compound that names another allergen
        ("peanut sauce", ("peanut",)),
        ("grilled clams and shrimps", ("crustacean", "mollusc")),  # plurals as singulars
        ("Tree nuts", ("tree_nut",)),  # a term of two words
        ("seafood", ("crustacean", "mollusc")),
        ("peanut butter toast", ("peanut",)),  # no milk
        ("coconut milk curry", ()),
        ("oat milk latte, 오트밀크", ()),
        ("gluten free bread", ()),  # a diet term mentions nothing
        ("글루텐 프리 빵", ()),
        ("eggplant", ()),  # English words match whole
        ("밀크티", ("milk",)),
    ],
)
def test_what_a_text_mentions(text, codes):
    assert mentioned([text]) == codes


def test_every_text_of_an_item_counts_once_in_vocabulary_order():
    assert mentioned(["비빔면", "땅콩 소스", "shrimp", "peanut"]) == ("peanut", "crustacean")


# The English reading as first written, word by word: each word tried as its own spelling, then without one or two
# final letters (a plural), against every start of a term, and the words after it joined with it, three, two or one.
_STARTS = {term[:end] for term in mentions._TABLE if term.isascii() for end in range(1, len(term) + 1)}


def _reference_latin(words: list[str]) -> set[str]:
    found: set[str] = set()
    i = 0
    while i < len(words):
        word = words[i]
        if not (word in _STARTS or word[:-1] in _STARTS or word[:-2] in _STARTS):
            i += 1
            continue
        for size in range(min(3, len(words) - i), 0, -1):
            key = "".join(words[i : i + size])
            for candidate in (key, key[:-1] if key.endswith("s") else None, key[:-2] if key.endswith("es") else None):
                if candidate and candidate in mentions._TABLE:
                    found.update(mentions._TABLE[candidate])
                    break
            else:
                continue
            i += size
            break
        else:
            i += 1
    return found


# Pieces of every English term and plural, cut anywhere, so that generated word lists spell terms across words.
_FORMS = [form for term in mentions._TABLE if term.isascii() for form in (term, term + "s", term + "es")]
_PIECES = sorted({piece for form in _FORMS for cut in range(1, len(form)) for piece in (form[:cut], form[cut:])})
_WORDS = st.lists(
    st.one_of(st.sampled_from(_FORMS), st.sampled_from(_PIECES), st.from_regex(r"[a-z]{1,7}", fullmatch=True)),
    max_size=12,
)


@settings(max_examples=3000, deadline=None)
@given(_WORDS)
def test_the_english_reading_equals_the_word_by_word_one(words):
    assert mentions._latin(words) == _reference_latin(words)
