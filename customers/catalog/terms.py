"""The search terms of a request, a preference or a tag list: lower-case words without stop words and fillers,
Korean particles cut off ("마포에서" is 마포, "떡볶이를" is 떡볶이), Korean verbs in their endings left out ("있을까요",
"볼까"), customers' words and phrases read as the catalog's ("pig's feet" is 족발, "떡볶이집" is 떡볶이), each once."""

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
        "갈",
        "볼",
        "놀",
        "do",
        "see",
        "수",
        "만한",
        "있을까",
        "싶다",
        "있어",
        "있나요",
        "this",
        "weekend",
        "주말",
        # When: a time meets no item, and a request naming only one would otherwise name nothing the catalog has.
        *("이번", "이번주", "다음주", "지금", "이따", "요즘", "내일", "모레", "연휴", "휴일", "쉬는", "tomorrow"),
        *("토요일", "일요일", "saturday", "sunday", "weekday"),
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
        # Fillers and verbs of asking that name no item (as a prefix, "가" would find 가로수길 and 가래떡).
        *("could", "should", "maybe", "there", "here", "around", "got", "ve", "ll", "re", "d", "let"),
        *("really", "pretty", "kind", "sort", "need", "try", "trying", "feel", "feeling", "mind", "head", "clear"),
        *("wanna", "gonna", "us", "we", "our", "perhaps", "probably", "also", "too", "very", "much", "little", "bit"),
        *("thousand", "won", "krw", "week", "요리", "가", "건", "걸", "못", "안", "더", "꼭", "다", "또"),
        *("괜찮", "괜찮은", "같은", "같이", "먹지", "먹어", "먹을까", "먹으면", "드시는", "드실", "맛있는", "맛있게"),
        *("먹어보고", "먹어볼", "먹으러", "가서", "가볼", "가보고", "해보고", "있는지", "없는지", "하는데", "싶은데"),
        *("보고", "하고", "말고", "빼고", "없이"),
        *("저", "나", "난", "걸로", "거로", "것으로", "hate", "dislike", "don", "없나", "있나"),
        *("expensive", "pricey", "비싼", "비싸", "비싼건", "fix", "few", "couple", "hour", "hours", "wo", "about"),
        *("own", "너무", "taking", "out", "after"),
        # Words of money and of choosing around a cap ("돈이 만원뿐", "I can afford 12k", "골라 주세요", "a range").
        *("돈", "돈이", "spend", "spending", "afford", "that", "hungry", "range", "price", "prices", "priced"),
        *("골라", "해결", "이면", "좋겠어", "좋겠어요", "에서", "부터"),
        # Moods that name no item: the rest of the request does.
        *("lazy", "chill", "chilling", "cozy", "cosy", "mood", "기분", "우울", "우울한", "심심한"),
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
    **{"bicycle": "bike", "bicycles": "bike", "bikes": "bike", "cycling": "bike", "biking": "bike", "river": "한강"},
    **{"batting": "baseball", "calm": "quiet", "peaceful": "quiet", "meditate": "meditation", "국물": "soup"},
    **{"meditating": "meditation", "trotters": "족발", "monk": "temple", "monks": "temple", "스님": "사찰음식"},
    **{"절밥": "사찰음식", "수업": "클래스", "레슨": "클래스", "lesson": "class", "lessons": "class", "강습": "클래스"},
    **{"중국집": "중식", "분식집": "분식", "noodle": "noodles", "dumpling": "dumplings", "캠핑장": "캠핑"},
    **{"고기": "meat", "육류": "meat", "rainy": "indoor", "닭": "chicken", "닭고기": "chicken"},
    **{
        "caffeine": "coffee",
        "espresso": "coffee",
        "pottery": "도자기",
        "make": "만들기",
        "ceramics": "도자기",
        "도예": "도자기",
    },
    **{"quietly": "quiet", "매콤한": "매운", "매콤": "매운", "얼큰한": "매운", "칼칼한": "매운", "맵고": "매운"},
}
# An occasion or a mood read as what the catalog offers for it: a cold day a soup, a hot one cold noodles, a date the
# night out, children the family outings, a company dinner a barbecue, a drink a bar.
_SYNONYMS |= {
    **dict.fromkeys(("warm", "comforting", "freezing", "chilly", "추운", "추워", "추워서", "뜨끈한", "뜨끈"), "soup"),
    **dict.fromkeys(("따뜻한", "따끈한", "뜨거운"), "soup"),
    **dict.fromkeys(("더운", "더워", "더워서", "더위", "시원하게"), "cold"),
    **dict.fromkeys(("date", "dating", "romantic", "데이트", "로맨틱"), "night"),
    **dict.fromkeys(("kids", "children", "child", "아이", "아이들", "애들"), "family"),
    **dict.fromkeys(("drink", "drinks", "한잔"), "bar"),
    "회식": "bbq",
}
# Phrases read before the words, as the catalog's word: "pig's feet" would otherwise be "pig" and "feet".
_PHRASES = {
    "pig's feet": "족발",
    "pigs' feet": "족발",
    "pigs feet": "족발",
    "pig feet": "족발",
    "rice wine": "막걸리",
    "rice cakes": "떡",
    "rice cake": "떡",
    "noodle soup": "noodles soup",
    "plant-based": "vegan",
    "plant based": "vegan",
    "meat-free": "vegetarian",
    "meatless": "vegetarian",
}
# A rainy day, however it is said ("비 오는 날", "비가 와서", "비도 오고"): indoors.
_RAIN = re.compile(
    r"(?<![\uac00-\ud7a3])비\s*(?:가|도)?\s*(?:오는|오고|와서|올\s*때|오면|오니까|오는데)(?![\uac00-\ud7a3])"
)
# Korean particles that follow a noun ("마포에서", "떡볶이를"), longest first.
_KOREAN_ENDINGS = (
    *("에서", "으로", "에게", "까지", "부터", "이랑", "하고", "하기", "하러", "하는", "할까", "할"),
    *("은", "는", "이", "가", "을", "를", "에", "의", "로", "도", "랑", "만"),
)
# A Korean word in a verb's or an adjective's ending ("있을까요", "볼까", "하나요", "어때요"): it names no item. A
# noun with the polite "요" ("떡볶이요") is kept, its "요" cut off.
_VERB_ENDING = re.compile(
    r"(?:[어아여해워봐와줘돼래세나까죠네데게지니때파라려져예에]요|[\uac00-\ud7a3](?:까|는데|은데|던데|한데|운데|니다|는지|죠))$"
)
HANGUL = re.compile(r"[\uac00-\ud7a3]")
_WORD = re.compile(r"\w+")


def terms(texts: Iterable[str], *, drop_areas: bool = False) -> tuple[str, ...]:
    """The search terms of `texts`: lower-case words without stop words, Korean particles cut off, at most
    MAX_TERMS, each once. With `drop_areas`, words naming an area are left out (the area is ranked apart)."""
    found: dict[str, None] = {}
    for text in texts:
        folded = unicodedata.normalize("NFKC", text).casefold().replace("\u2019", "'")
        for phrase, word in _PHRASES.items():
            folded = folded.replace(phrase, word)
        folded = _RAIN.sub("실내", folded)
        for word in _WORD.findall(folded):
            if word in _STOP_WORDS or word.isdigit() or word == "_":
                continue
            if drop_areas and vocabulary.area_named_in(word):
                continue
            if HANGUL.match(word):
                if _VERB_ENDING.search(word):
                    continue
                word = word.removesuffix("요") if len(word) > 2 else word
                # A word of the table before a particle is read as itself ("아이랑" is 아이, not 아 with 이랑).
                stems = [word[: -len(ending)] for ending in _KOREAN_ENDINGS if word.endswith(ending)]
                known = next((stem for stem in stems if stem in _SYNONYMS), None)
                for ending in () if known else _KOREAN_ENDINGS:
                    # A particle of two syllables leaves even a word of one ("곳에서" is 곳, "책으로" is 책).
                    if word.endswith(ending) and len(word) - len(ending) >= (1 if len(ending) == 2 else 2):
                        word = word[: -len(ending)]
                        break
                word = known or word
                # A plural ("스님들"), a shop of a dish ("떡볶이집", "국밥집") or a dish of a food ("닭요리") is the
                # noun itself.
                for suffix in ("들", "집", "요리"):
                    if word.endswith(suffix) and len(word) > max(len(suffix), 2) and word not in _SYNONYMS:
                        word = word[: -len(suffix)]
                if word in _STOP_WORDS:
                    continue
            word = _SYNONYMS.get(word, word).replace("_", "")
            if len(word) >= 2 or HANGUL.match(word):
                found[word] = None
    return tuple(found)[:MAX_TERMS]
