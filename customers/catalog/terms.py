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
        "bowl",
        "bowls",
        # Words of price, of a kind or of haste: the cap, the kind (`stated.read`) and the home area answer them.
        "cheap",
        "cheaper",
        "affordable",
        "inexpensive",
        "budget",
        "싼",
        "싸게",
        "저렴한",
        "저렴하게",
        "activity",
        "activities",
        "experience",
        "체험",
        "활동",
        "액티비티",
        "quick",
        "bite",
        "grab",
        "go",
        "by",
        "only",
        "just",
        "할",
        "수",
        "만한",
        "있을까",
        "싶다",
        "있어",
        "있나요",
        "this",
        "weekend",
        "주말",
        "idea",
        "ideas",
        "suggestions",
        "options",
        "볼거리",
        "줘",
        "오는",
        "날",
        "데",
        "식당",
        "anything",
        "eat",
        "eating",
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
# Customers' words for what the catalog spells otherwise: romanized Korean dish names, common synonyms and an
# occasion's usual dish, each read as the catalog's own word (one term: a synonym never dilutes the request).
_SYNONYMS = {
    **{"gukbap": "국밥", "tteokbokki": "떡볶이", "ddeokbokki": "떡볶이", "topokki": "떡볶이", "gimbap": "kimbap"},
    **{"jjigae": "찌개", "naengmyeon": "냉면", "naengmyun": "냉면", "galbi": "갈비", "kalbi": "갈비"},
    **{"samgyeopsal": "삼겹살", "samgyupsal": "삼겹살", "jokbal": "족발", "sundubu": "순두부", "soondubu": "순두부"},
    **{"dakgalbi": "닭갈비", "pajeon": "전", "jeon": "전", "bindaetteok": "빈대떡", "hotteok": "호떡"},
    **{"eomuk": "어묵", "odeng": "어묵", "mandu": "만두", "milmyeon": "밀면", "jjamppong": "짬뽕"},
    **{"jjambbong": "짬뽕", "jajangmyeon": "짜장면", "jjajangmyeon": "짜장면", "jajangmyun": "짜장면"},
    **{"tangsuyuk": "탕수육", "gopchang": "곱창", "makchang": "막창", "suyuk": "수육", "yukhoe": "육회"},
    **{"makguksu": "막국수", "ramyeon": "라면", "ramyun": "라면", "ramen": "라면", "kongguksu": "콩국수"},
    **{"dosirak": "도시락", "bunsik": "분식", "hanwoo": "한우", "malatang": "마라탕", "maratang": "마라탕"},
    **{"barbecue": "bbq", "barbeque": "bbq", "hike": "hiking", "hikes": "hiking", "trek": "hiking"},
    **{"trekking": "hiking", "stroll": "walk", "walking": "walk", "strolling": "walk", "walks": "walk"},
    **{"sweets": "dessert", "sweet": "dessert", "café": "cafe", "cafés": "cafe", "coffeeshop": "cafe"},
    **{"pub": "bar", "pubs": "bar", "veggie": "vegetarian", "present": "gift", "presents": "gift"},
    **{"souvenir": "gift", "souvenirs": "gift", "sashimi": "스시", "hangover": "국밥", "seaside": "ocean"},
    **{"부침개": "전", "파전": "전", "지짐이": "전", "술집": "바", "산책로": "산책", "트레킹": "하이킹"},
    **{"등산로": "등산", "라멘": "라면", "고깃집": "구이", "케이크": "디저트", "빵집": "베이커리"},
    **{"제과점": "베이커리", "커피숍": "카페", "커피집": "카페", "찻집": "카페", "해수욕장": "해변"},
    **{"조용한": "quiet", "조용히": "quiet", "건강한": "healthy", "건강식": "healthy", "달달한": "디저트"},
    **{"달콤한": "디저트", "독서": "책", "읽고": "책", "reading": "books", "read": "books"},
    **{"요리교실": "쿠킹클래스", "공방": "공예", "해장": "국밥", "해장국": "국밥", "기념품": "선물"},
}
# Korean particles that follow a noun ("마포에서", "떡볶이를"), longest first.
_KOREAN_ENDINGS = (
    *("에서", "으로", "에게", "까지", "부터", "이랑", "하고", "하기", "하러", "하는", "할까", "할"),
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
                    # A particle of two syllables leaves even a word of one ("곳에서" is 곳, "책으로" is 책).
                    if word.endswith(ending) and len(word) - len(ending) >= (1 if len(ending) == 2 else 2):
                        word = word[: -len(ending)]
                        break
                if word in _STOP_WORDS:
                    continue
            word = _SYNONYMS.get(word, word).replace("_", "")
            if len(word) >= 2 or HANGUL.match(word):
                found[word] = None
    return tuple(found)[:MAX_TERMS]
