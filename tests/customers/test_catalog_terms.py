"""The search terms of a request (`customers.catalog.terms.terms`): what is left to match once the words that name no
item are out (verbs in their endings, fillers), and customers' words read as the catalog's."""

import pytest

from customers.catalog.terms import terms

CASES: list[tuple[str, tuple[str, ...]]] = [
    # Korean verbs and adjectives in their endings name no item; "가" would find 가로수길 as a prefix
    ("아쿠아리움 가 볼까 하는데 어때요?", ("아쿠아리움",)),
    ("이 서비스는 어떻게 쓰는 거예요?", ("이", "서비스", "어떻게", "쓰는")),
    ("배고파요", ()),
    ("스님들이 드시는 음식 같은 거 먹어보고 싶어요", ("사찰음식",)),
    # a noun with the polite 요 is kept
    ("피자요", ("피자",)),
    ("카페요", ("카페",)),
    # near misses: nouns that end like a verb are kept
    ("바나나", ("바나나",)),
    ("노래", ("노래",)),
    ("냉면 먹고 싶어요", ("냉면",)),
    ("라면", ("라면",)),
    # a plural, a shop of a dish, a dish of a food: the noun itself
    ("떡볶이집 어디 괜찮은 데 없나", ("떡볶이",)),
    ("삼겹살집", ("삼겹살",)),
    ("매운 닭요리 먹고 싶어", ("매운", "chicken")),
    ("해물요리", ("해물",)),
    # near misses: a word of the table keeps its own reading
    ("고깃집", ("구이",)),
    ("빵집", ("베이커리",)),
    ("맛집", ("맛집",)),
    # customers' words and phrases for the catalog's
    ("pig's feet for a late-night snack", ("족발", "late", "night", "snack")),
    ("Where could I rent a bicycle by the river?", ("rent", "bike", "한강")),
    ("I want to swing a bat, some batting practice", ("swing", "bat", "baseball", "practice")),
    ("a calm place to clear my head, maybe meditate", ("quiet", "meditation")),
    ("매운 건 빼고 국물 요리 추천해 주세요", ("매운", "soup")),
    ("요가 수업", ("요가", "클래스")),
    ("Something plant-based for lunch", ("vegan",)),
    ("meatless monday", ("vegetarian", "monday")),
    ("비 오는 날 실내에서 할 만한 거", ("실내",)),
    ("돼지고기 빼고 고기 먹고 싶어", ("돼지고기", "meat")),
    ("somewhere to get my caffeine fix", ("coffee",)),
    ("Where can I make my own pottery?", ("만들기", "도자기")),
    ("Where can I read quietly for a few hours?", ("books", "quiet")),
    ("매콤한 거 먹고 싶어요", ("매운",)),
    # a verb of going, seeing, playing or doing, and a time, name no item: alone they would name nothing the
    # catalog has, and the request would get no card
    ("이번 주말에 갈 만한 곳 있을까요?", ()),
    ("내일 볼 만한 곳", ()),
    ("토요일에 놀 만한 데", ()),
    ("things to do and see tomorrow", ()),
    # near misses: nouns that begin like those verbs
    ("갈비", ("갈비",)),
    ("볼링장", ("볼링장",)),
    ("놀이공원", ("놀이공원",)),
    # words of price name no item: the cap answers them
    ("비싼 건 부담돼요", ()),
    # an occasion or a mood as what the catalog offers for it; a mood alone names nothing
    ("오늘 너무 추운데 뜨끈한 거 먹고 싶다", ("soup",)),
    ("something warm and comforting, it's freezing out", ("soup",)),
    ("더운 날 시원하게 먹을 만한 거", ("cold",)),
    ("a romantic evening", ("night", "evening")),
    ("taking my kids out this afternoon", ("family", "afternoon")),
    ("아이랑 갈 만한 곳", ("family",)),
    ("회식 장소", ("bbq", "장소")),
    ("a quiet drink", ("quiet", "bar")),
    ("비도 오고 우울한데 뭐 할까", ("실내",)),
    ("비가 와서", ("실내",)),
    ("feeling lazy, just want to chill somewhere cozy with a coffee", ("coffee",)),
    # near misses: rain asked about, a refreshing soup, words that begin like one of the table's
    ("내일 비 와?", ("비", "와")),
    ("시원한 밀면", ("시원한", "밀면")),
    ("비빔밥", ("비빔밥",)),
    ("아이스크림", ("아이스크림",)),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[text for text, _ in CASES])
def test_terms(text, expected):
    assert terms([text]) == expected
