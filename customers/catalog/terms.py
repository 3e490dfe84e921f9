"""The search terms of a request, a preference or a tag list: lower-case words without stop words, Korean
particles cut off ("마포에서" is 마포, "떡볶이를" is 떡볶이), each once."""

import re
import unicodedata
from collections.abc import Iterable

from customers.catalog import vocabulary

MAX_TERMS = 24  # request, preference and liked terms each, at most

_STOP_WORDS = frozenset(
    (
        "a",
        "an",
        "and",
        "any",
        "are",
        "at",
        "best",
        "can",
        "for",
        "find",
        "food",
        "from",
        "get",
        "give",
        "good",
        "i",
        "im",
        "in",
        "is",
        "it",
        "like",
        "looking",
        "me",
        "my",
        "near",
        "nearby",
        "of",
        "on",
        "or",
        "please",
        "place",
        "places",
        "recommend",
        "recommendation",
        "recommendations",
        "show",
        "so",
        "some",
        "something",
        "somewhere",
        "suggest",
        "the",
        "thing",
        "things",
        "to",
        "today",
        "tonight",
        "want",
        "what",
        "where",
        "with",
        "would",
        "you",
        "좀",
        "추천",
        "추천해줘",
        "추천해",
        "추천해주세요",
        "주세요",
        "해줘",
        "알려줘",
        "어디",
        "뭐",
        "뭔가",
        "곳",
        "좋은",
        "있는",
        "먹고",
        "싶어",
        "싶어요",
        "가고",
        "오늘",
        "근처",
        "음식",
        "먹을",
        "거",
        "것",
        # Meals and particles: they name no item ("점심 추천", "dinner?"), and a description that happens to hold
        # one would pass for what was asked.
        "lunch",
        "dinner",
        "breakfast",
        "meal",
        "점심",
        "저녁",
        "아침",
        "식사",
        "로",
        "으로",
        "에",
        "를",
        "을",
        "랑",
    )
)
# Korean particles that follow a noun ("마포에서", "떡볶이를"), longest first.
_KOREAN_ENDINGS = (
    *("에서", "으로", "에게", "까지", "부터", "이랑", "하고", "하기", "하러", "하는"),
    *("은", "는", "이", "가", "을", "를", "에", "의", "로", "도", "랑", "만"),
)
HANGUL = re.compile(r"[\uac00-\ud7a3]")
_WORD = re.compile(r"\w+")


def terms(texts: Iterable[str], *, drop_areas: bool = False) -> tuple[str, ...]:
    """The search terms of `texts`: lower-case words without stop words, Korean particles cut off, at most
    MAX_TERMS, each once. With `drop_areas`, words naming an area are left out (the area is ranked apart)."""
    found: dict[str, None] = {}
    for text in texts:
        for word in _WORD.findall(unicodedata.normalize("NFKC", text).casefold()):
            if word in _STOP_WORDS or word.isdigit() or word == "_":
                continue
            if drop_areas and vocabulary.area_named_in(word):
                continue
            if HANGUL.match(word):
                for ending in _KOREAN_ENDINGS:
                    if word.endswith(ending) and len(word) - len(ending) >= 2:
                        word = word[: -len(ending)]
                        break
                if word in _STOP_WORDS:
                    continue
            word = word.replace("_", "")
            if len(word) >= 2 or HANGUL.match(word):
                found[word] = None
    return tuple(found)[:MAX_TERMS]
