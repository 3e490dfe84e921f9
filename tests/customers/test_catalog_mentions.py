"""What an item's own text mentions (customers/catalog/mentions.py): Korean terms inside words, one-syllable ones only
at a word's start, English words whole or plural, diet terms and compounds that hide the allergen inside them."""

import pytest

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
