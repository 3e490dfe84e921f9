"""The request reader (`customers.catalog.stated.read`): what a message states, in Korean and English, as a table.

Each row is a message and everything it must state; a field left out must come out empty (no allergen, no diet, no
cap, no excluded tag, no kind), so a near miss ("I love sesame") is checked to state nothing. `asks` is checked where
the row gives it. Every row also checks that no stated word is left in the search text."""

import pytest

from customers.catalog import stated, vocabulary

SPICY = ("spicy", "매운맛")
NON_FOOD = ("activity", "place")

# (message, expected): expected keys are a(llergens), d(iets), p(rice cap), t(ags), k(inds), asks, and l(ooks for:
# the kinds the turn ranks alone, checked where the row gives it).
CASES: list[tuple[str, dict]] = [
    # --- the issue's four requests ---
    ("새우 알레르기가 있어요. 저녁 뭐 먹지?", {"a": ("crustacean",), "asks": True}),
    ("I can't eat pork. BBQ dinner?", {"a": ("pork",), "asks": True}),
    ("만원 이하로 점심 추천해줘", {"p": 10000, "asks": True}),
    ("Thanks, that's all!", {"asks": False}),
    # --- English allergies ---
    ("I'm allergic to sesame", {"a": ("sesame",)}),
    ("I am allergic to peanuts, any snacks?", {"a": ("peanut",), "asks": True}),
    ("allergic to shellfish", {"a": ("crustacean", "mollusc")}),
    ("I have a peanut allergy", {"a": ("peanut",)}),
    ("Peanut allergy here, dessert ideas?", {"a": ("peanut",), "asks": True}),
    ("I'm allergic to peanuts, walnuts, and shrimp", {"a": ("peanut", "tree_nut", "crustacean")}),
    ("can't eat nuts", {"a": ("tree_nut",)}),
    ("I cannot eat eggs", {"a": ("egg",)}),
    ("I can not eat fish", {"a": ("fish",)}),
    ("I don't eat beef", {"a": ("beef",)}),
    ("I won't eat chicken", {"a": ("chicken",)}),
    ("no pork please, something for dinner", {"a": ("pork",), "asks": True}),
    ("no pork or beef please", {"a": ("pork", "beef")}),
    ("without cheese", {"a": ("milk",)}),
    ("pizza without cheese", {"a": ("milk",), "asks": True}),
    ("avoid dairy", {"a": ("milk",)}),
    ("avoiding gluten this month", {"a": ("wheat",)}),
    ("I'm lactose intolerant", {"a": ("milk",)}),
    ("intolerant to soy", {"a": ("soy",)}),
    ("nut-free dessert", {"a": ("tree_nut",), "asks": True}),
    ("dairy free snacks", {"a": ("milk",), "asks": True}),
    ("sesame-free please", {"a": ("sesame",)}),
    ("hold the egg", {"a": ("egg",)}),
    ("nothing with shrimp", {"a": ("crustacean",)}),
    ("I hate tomatoes", {"a": ("tomato",)}),
    ("I'm sensitive to sulphites", {"a": ("sulphite",)}),
    ("no seafood tonight, I want noodles", {"a": ("crustacean", "mollusc"), "asks": True}),
    ("no meat please", {"a": ("pork", "beef", "chicken")}),
    ("I can't have wheat or eggs", {"a": ("egg", "wheat")}),
    ("I am allergic to buckwheat so no soba", {"a": ("buckwheat",)}),
    ("Allergic to mustard and celery", {"a": ("celery", "mustard")}),
    ("stay away from peaches", {"a": ("peach",)}),
    ("No octopus, no squid", {"a": ("mollusc",)}),
    ("except crab", {"a": ("crustacean",)}),
    ("I'd rather not have pork", {"a": ("pork",)}),
    # --- Korean allergies ---
    ("견과류 못 먹어요", {"a": ("tree_nut",)}),
    ("견과류 알레르기", {"a": ("tree_nut",)}),
    ("땅콩 알레르기가 있어요", {"a": ("peanut",)}),
    ("땅콩알레르기 있어요", {"a": ("peanut",)}),
    ("새우 알러지 있음", {"a": ("crustacean",)}),
    ("우유 못 먹어요", {"a": ("milk",)}),
    ("계란은 못 먹어요", {"a": ("egg",)}),
    ("돼지고기 빼고", {"a": ("pork",)}),
    ("돼지고기 빼고 고기 추천해줘", {"a": ("pork",), "asks": True}),
    ("돼지고기랑 소고기 빼고", {"a": ("pork", "beef")}),
    ("새우랑 게 빼고 해산물", {"a": ("crustacean",), "asks": True}),
    ("치즈 없이", {"a": ("milk",)}),
    ("치즈 없이 만들어 주는 곳", {"a": ("milk",), "asks": True}),
    ("참깨 말고", {"a": ("sesame",)}),
    ("닭고기 말고 다른 거", {"a": ("chicken",)}),
    ("조개류 제외", {"a": ("mollusc",)}),
    ("해산물 빼고 저녁 추천", {"a": ("crustacean", "mollusc"), "asks": True}),
    ("밀가루 안 먹어요", {"a": ("wheat",)}),
    ("복숭아 알레르기 있어요", {"a": ("peach",)}),
    ("고등어 못 먹어", {"a": ("fish",)}),
    ("오징어는 싫어요", {"a": ("mollusc",)}),
    ("대두 알레르기가 있는데 점심 뭐 먹지", {"a": ("soy",), "asks": True}),
    ("메밀 알레르기 있어서 소바는 안 돼요", {"a": ("buckwheat",)}),
    ("고기 빼고", {"a": ("pork", "beef", "chicken")}),
    ("토마토 들어가지 않은 거", {"a": ("tomato",)}),
    ("새우튀김 빼고", {"a": ("crustacean",)}),
    ("호두랑 아몬드 알레르기", {"a": ("tree_nut",)}),
    ("갑각류 알레르기가 있습니다", {"a": ("crustacean",)}),
    ("겨자 넣지 말아 주세요", {"a": ("mustard",)}),
    # --- diets ---
    ("vegetarian today", {"d": ("vegetarian",)}),
    ("I'm vegan, lunch ideas?", {"d": ("vegan",), "asks": True}),
    ("halal food please", {"d": ("halal",), "asks": True}),
    ("gluten-free pasta", {"d": ("gluten_free",), "asks": True}),
    ("gluten free bakery", {"d": ("gluten_free",), "asks": True}),
    ("plant based dinner", {"d": ("vegan",), "asks": True}),
    ("오늘은 채식", {"d": ("vegetarian",)}),
    ("오늘은 채식으로 점심", {"d": ("vegetarian",), "asks": True}),
    ("비건으로 부탁해요", {"d": ("vegan",)}),
    ("비건 메뉴 있는 곳", {"d": ("vegan",), "asks": True}),
    ("할랄 음식 추천", {"d": ("halal",), "asks": True}),
    ("글루텐프리 빵", {"d": ("gluten_free",), "asks": True}),
    ("채식주의자예요", {"d": ("vegetarian",)}),
    ("I'm not vegan, spicy food?", {"asks": True}),
    ("I'm not a vegetarian", {}),
    ("비건은 아니에요", {}),
    ("채식은 아니지만 샐러드 좋아해요", {"asks": True}),
    ("vegan and gluten free please", {"d": ("vegan", "gluten_free")}),
    # --- price caps ---
    ("under 15,000 won", {"p": 15000}),
    ("something under 15000 won", {"p": 15000, "asks": True}),
    ("at most 10,000", {"p": 10000}),
    ("at most 10000 won for lunch", {"p": 10000, "asks": True}),
    ("15k or less ramen", {"p": 15000, "asks": True}),
    ("under 15k", {"p": 15000}),
    ("below 20,000 KRW", {"p": 20000}),
    ("less than 10,000 won", {"p": 9999}),
    ("max 12,000 won", {"p": 12000}),
    ("up to 30k for dinner", {"p": 30000, "asks": True}),
    ("no more than 8,000 won", {"p": 8000}),
    ("my budget is 20,000 won", {"p": 20000}),
    ("budget 25000", {"p": 25000}),
    ("within 50,000 won", {"p": 50000}),
    ("₩9,000 max", {"p": 9000}),
    ("15,000 won or less", {"p": 15000}),
    ("만원 이하", {"p": 10000}),
    ("만원 이하로 저녁", {"p": 10000, "asks": True}),
    ("2만원 안쪽", {"p": 20000}),
    ("오천원 이내", {"p": 5000}),
    ("오천원 이내 간식", {"p": 5000, "asks": True}),
    ("1만 5천원 이하", {"p": 15000}),
    ("1만5천원 이하", {"p": 15000}),
    ("만오천원 이하", {"p": 15000}),
    ("이만원 이하", {"p": 20000}),
    ("3만원 미만", {"p": 29999}),
    ("2만원대 저녁", {"p": 29999, "asks": True}),
    ("만원대 점심", {"p": 19999, "asks": True}),
    ("15,000원 이하", {"p": 15000}),
    ("12000원까지", {"p": 12000}),
    ("예산은 3만원", {"p": 30000}),
    ("최대 1만 5천원으로 점심", {"p": 15000, "asks": True}),
    ("1.5만원 이하", {"p": 15000}),
    ("만원 아래로 먹을 거", {"p": 10000, "asks": True}),
    ("5천원 이하 커피", {"p": 5000, "asks": True}),
    ("under 15,000 won and no pork", {"p": 15000, "a": ("pork",)}),
    ("만원 이하, 새우 빼고", {"p": 10000, "a": ("crustacean",)}),
    ("under 20,000 won or under 15,000 won", {"p": 15000}),
    # --- exclusions without a code (tags) ---
    ("안 매운 거", {"t": SPICY}),
    ("맵지 않은 음식", {"t": SPICY}),
    ("not spicy please", {"t": SPICY}),
    ("nothing spicy", {"t": SPICY}),
    ("no spicy food", {"t": SPICY}),
    ("매운 거 빼고", {"t": SPICY}),
    ("한식 말고 중식", {"t": ("korean", "한식"), "asks": True}),
    ("not korean food tonight", {"t": ("korean", "한식")}),
    ("no alcohol", {"t": ("bar",)}),
    ("술 말고", {"t": ("bar",)}),
    ("고수 빼주세요", {"t": ("cilantro", "고수")}),
    ("no cilantro", {"t": ("cilantro", "고수")}),
    ("커피 말고 디저트", {"t": ("coffee", "커피"), "asks": True}),
    # --- kinds ---
    ("just a place to walk, not food", {"k": ("place",), "asks": True}),
    ("not food, something to do", {"k": NON_FOOD, "asks": True}),
    ("음식 말고 갈 만한 곳", {"k": NON_FOOD, "asks": True}),
    ("먹는 거 말고 놀 거리", {"k": NON_FOOD, "asks": True}),
    # --- asks for nothing ---
    ("hello!", {"asks": False}),
    ("Hi there", {"asks": False}),
    ("Thanks!", {"asks": False}),
    ("thank you so much, that was helpful", {"asks": False}),
    ("ok bye", {"asks": False}),
    ("Who are you?", {"asks": False}),
    ("What can you do?", {"asks": False}),
    ("How does this work?", {"asks": False}),
    ("How's the weather today?", {"asks": False}),
    ("안녕하세요", {"asks": False}),
    ("고마워요!", {"asks": False}),
    ("감사합니다, 됐어요", {"asks": False}),
    ("오늘 날씨 어때?", {"asks": False}),
    ("넌 누구야?", {"asks": False}),
    ("좋아요 ㅎㅎ", {"asks": False}),
    # --- asks ---
    ("떡볶이 먹고 싶다", {"asks": True}),
    ("Any good cafes in Mapo?", {"asks": True}),
    ("주말에 하이킹 갈 만한 곳 있을까?", {"asks": True}),
    ("I want to hear some indie music live tonight", {"asks": True}),
    ("what should I do tonight?", {"asks": True}),
    ("뭐 먹지?", {"asks": True}),
    ("recommend something", {"asks": True}),
    # --- near misses: they state nothing ---
    ("I love sesame", {"asks": True}),
    ("I love sesame chicken", {"asks": True}),
    ("sesame noodles please", {"asks": True}),
    ("I really like peanuts", {"asks": True}),
    ("shrimp tempura sounds good", {"asks": True}),
    ("새우 좋아해요", {"asks": True}),
    ("땅콩 들어간 디저트 먹고 싶어", {"asks": True}),
    ("돼지고기 먹고 싶어요", {"asks": True}),
    ("cheese lover here, pizza?", {"asks": True}),
    ("my friend is allergic to shrimp but I'm not", {"asks": True}),
    ("게임하러 갈 곳", {"asks": True}),
    ("밀면 먹으러 갈래", {"asks": True}),
    ("굴국밥 추천", {"asks": True}),
    ("얼굴 마사지", {"asks": True}),
    ("어깨가 아파요, 마사지", {"asks": True}),
    ("비밀 장소 추천", {"asks": True}),
    ("no problem, recommend a cafe", {"asks": True}),
    ("Not bad! any dessert?", {"asks": True}),
    ("2 people, dinner in Gangnam", {"asks": True}),
    ("7080 music bar", {"asks": True}),
    ("the 10,000 steps walk", {"asks": True}),
    ("I don't know, surprise me with dinner", {"asks": True}),
    ("spicy food please", {"asks": True}),
    ("매운 거 먹고 싶어요", {"asks": True}),
    ("beef bulgogi please", {"asks": True}),
    ("a vegan friend is visiting but I'm not vegan", {"asks": True}),
    # --- more cap forms ---
    ("2만원 넘지 않게 저녁", {"p": 20000, "asks": True}),
    ("만 오천원 넘지 않는 선에서", {"p": 15000}),
    ("만원 아래 점심", {"p": 10000, "asks": True}),
    ("싸게 만원 안으로 먹을 거", {"p": 10000, "asks": True}),
    ("3만원 넘으면 안 돼요", {"p": 30000}),
    ("1인당 2만원 이하", {"p": 20000}),
    ("가격은 만원 정도까지", {"p": 10000}),
    ("below 12000", {"p": 12000}),
    ("below 12,000 won for lunch", {"p": 12000, "asks": True}),
    ("no more than 15k", {"p": 15000}),
    ("max 20k please", {"p": 20000}),
    ("20,000 won tops", {"p": 20000}),
    ("15k tops for dinner", {"p": 15000, "asks": True}),
    ("keep it under 10,000 won", {"p": 10000}),
    ("nothing over 15,000 won", {"p": 15000}),
    ("not over 20k", {"p": 20000}),
    ("not more than 9,000 won", {"p": 9000}),
    ("cheap, under 8000 won", {"p": 8000}),
    ("I only have 10,000 won", {"p": 10000}),
    ("20000 won at most", {"p": 20000}),
    ("under ten thousand won", {"p": 10000}),
    # --- near misses of caps: an amount that is not a cap ---
    ("over 20,000 won is fine", {"asks": True}),
    ("3 people under one roof", {"asks": True}),
    ("10000보 걷기 좋은 곳", {"asks": True}),
    # --- more kind forms ---
    ("somewhere to go, not to eat", {"k": NON_FOOD, "asks": True}),
    ("activity only", {"k": ("activity",), "asks": True}),
    ("activities only, no restaurants", {"k": ("activity",), "asks": True}),
    ("not a restaurant, something to see", {"k": NON_FOOD, "asks": True}),
    ("I don't want to eat, somewhere to hang out", {"k": NON_FOOD, "asks": True}),
    ("주말에 놀 거리 추천", {"k": NON_FOOD, "asks": True}),
    ("근처 볼거리 있어?", {"k": NON_FOOD, "asks": True}),
    ("장소만 추천해줘", {"k": ("place",), "asks": True}),
    ("먹는 건 됐고 갈 만한 곳", {"k": NON_FOOD, "asks": True}),
    ("식당 말고 구경할 곳", {"k": NON_FOOD, "asks": True}),
    ("밥 말고 할 거", {"k": NON_FOOD, "asks": True}),
    # --- near misses of kinds ---
    ("a place to eat near the park", {"asks": True}),
    ("볼거리 많은 시장에서 먹을 거", {"asks": True}),
    ("only the best restaurants", {"asks": True}),
    # --- more exclusion forms ---
    ("no cheese please", {"a": ("milk",)}),
    ("no shrimp, dinner?", {"a": ("crustacean",), "asks": True}),
    ("치즈 없는 메뉴", {"a": ("milk",), "asks": True}),
    ("땅콩 안 들어간 디저트", {"a": ("peanut",), "asks": True}),
    ("돼지고기 안 들어간 거", {"a": ("pork",)}),
    ("새우 없는 요리로", {"a": ("crustacean",)}),
    ("매운 거 없는 곳", {"t": SPICY}),
    ("맵지 않게", {"t": SPICY}),
    ("not too spicy", {"t": SPICY}),
    ("mild, nothing hot", {"t": SPICY}),
    ("skip the coffee", {"t": ("coffee", "커피")}),
    ("no raw fish", {"t": ("sushi", "스시")}),
    ("회 말고", {"t": ("sushi", "스시")}),
    ("술집 말고", {"t": ("bar",)}),
    ("no bars", {"t": ("bar",)}),
    # --- near misses of exclusions ---
    ("치즈 많은 피자", {"asks": True}),
    ("땅콩 들어간 거 좋아해요", {"asks": True}),
    ("no worries, spicy is fine", {"asks": True}),
    # --- caps stated by ruling out what costs more ---
    ("I don't want to spend more than 15,000 won", {"p": 15000}),
    ("can't pay over 20k", {"p": 20000}),
    ("15,000 won and under", {"p": 15000}),
    ("a price limit of 12,000 won", {"p": 12000}),
    ("만원 넘는 건 싫어요", {"p": 10000}),
    ("2만원 초과는 안 돼요", {"p": 20000}),
    ("3만원 이상은 부담돼요", {"p": 29999}),  # 30,000 itself ruled out
    # --- near misses: more than an amount, wanted ---
    ("I want to spend more than 20,000 won on a nice dinner", {"asks": True}),
    ("만원 넘는 코스 요리", {"asks": True}),
    # --- mild: a positive word that rules out spicy ---
    ("something mild for lunch", {"t": SPICY, "asks": True}),
    ("순한 맛으로 추천해줘", {"t": SPICY, "asks": True}),
    # --- food only ---
    ("food only, no activities", {"k": stated.FOOD_KINDS, "asks": True}),
    ("just food please, dinner", {"k": stated.FOOD_KINDS, "asks": True}),
    ("음식만 추천해줘", {"k": stated.FOOD_KINDS, "asks": True}),
    ("놀 거리 말고 먹을 거", {"k": stated.FOOD_KINDS, "asks": True}),
    ("not an activity, somewhere to eat", {"k": stated.FOOD_KINDS, "asks": True}),
    # --- a word ruled out as itself (no code or listed tag covers it) ---
    ("김치 빼고 한식", {"t": ("김치",), "asks": True}),
    ("오이 안 들어간 거", {"t": ("오이",)}),
    ("버섯은 빼주세요", {"t": ("버섯",)}),
    ("without kimchi please", {"t": ("kimchi",)}),
    ("no mushrooms, dinner?", {"t": ("mushrooms",), "asks": True}),
    ("skip the onions", {"t": ("onions",)}),
    # --- near misses: "no" that rules nothing out ---
    ("no worries, dinner ideas?", {"asks": True}),
    ("no idea what to eat tonight", {"asks": True}),
    ("no rush, a cafe for later", {"asks": True}),
    ("다른 거 말고 그냥 추천", {"asks": True}),
    ("이거 말고 다른 거", {"asks": True}),
    # --- caps told as what there is to spend ---
    ("I have 15,000 won to spend", {"p": 15000}),
    ("20k is my limit", {"p": 20000}),
    ("my budget is about 15k", {"p": 15000}),
    ("2만원 정도 예산", {"p": 20000}),
    ("2만원으로 먹을 수 있는 저녁", {"p": 20000, "asks": True}),
    ("만원으로 해결할 점심", {"p": 10000, "asks": True}),
    ("십만원 이하 선물", {"p": 100000, "asks": True}),
    ("삼십만원 이하", {"p": 300000}),
    # --- near misses ---
    ("I have 2 kids, a family activity", {"asks": True}),
    ("만원의 행복 같은 곳", {"asks": True}),
    # --- more ways to say "not food" ---
    ("something to do instead of eating", {"k": NON_FOOD, "asks": True}),
    ("not looking to eat, somewhere to go", {"k": NON_FOOD, "asks": True}),
    ("I already ate, something to do", {"k": NON_FOOD, "asks": True}),
    ("activities rather than food", {"k": ("activity",), "asks": True}),
    ("something other than food", {"k": NON_FOOD, "asks": True}),
    ("no dining, a walk", {"k": NON_FOOD, "asks": True}),
    ("without food, somewhere fun", {"k": NON_FOOD, "asks": True}),
    ("밥 먹었어요, 놀 곳", {"k": NON_FOOD, "asks": True}),
    ("배불러요 산책할 곳", {"k": NON_FOOD, "asks": True}),
    ("먹거리 말고 갈 데", {"k": NON_FOOD, "asks": True}),
    ("음식 아닌 거 추천", {"k": NON_FOOD, "asks": True}),
    ("식사 말고 구경", {"k": NON_FOOD, "asks": True}),
    ("밥집 말고 갈 만한 곳", {"k": NON_FOOD, "asks": True}),
    # --- near misses: eating is what is asked ---
    ("there's nothing to eat at home, dinner?", {"asks": True}),
    ("어제 먹었던 곳 말고 새로운 식당", {"asks": True}),
    ("not hungry yet but lunch later", {"asks": True}),
    ("I do not eat pork, dinner?", {"a": ("pork",), "asks": True}),
    # --- not food, and which of the two kinds ---
    ("just a place, not food", {"k": ("place",), "asks": True}),
    ("a place to sit outside, no restaurants", {"k": ("place",), "asks": True}),
    ("음식 말고 장소 추천", {"k": ("place",), "asks": True}),
    ("an activity, not food", {"k": ("activity",), "asks": True}),
    ("먹는 거 말고 체험 활동", {"k": ("activity",), "asks": True}),
    ("places or activities, not food", {"k": NON_FOOD, "asks": True}),
    # --- more small talk: it asks for nothing ---
    ("you're great", {"asks": False}),
    ("Can you tell me a joke?", {"asks": False}),
    ("What time is it?", {"asks": False}),
    ("who made you?", {"asks": False}),
    ("Are you a robot?", {"asks": False}),
    ("nice to meet you", {"asks": False}),
    ("see you tomorrow", {"asks": False}),
    ("haha lol", {"asks": False}),
    ("Never mind", {"asks": False}),
    ("What languages do you speak?", {"asks": False}),
    ("반갑습니다", {"asks": False}),
    ("고마워 잘 자", {"asks": False}),
    ("수고했어", {"asks": False}),
    ("로봇이야?", {"asks": False}),
    ("알았어 고마워", {"asks": False}),
    ("아니 괜찮아", {"asks": False}),
    ("한국어 할 줄 알아?", {"asks": False}),
    ("좋은 하루 보내세요", {"asks": False}),
    # --- near misses: small-talk words in a request ---
    ("a free museum nearby", {"asks": True}),
    ("a place with nice people and jazz", {"asks": True}),
    ("good coffee please", {"asks": True}),
    ("맛있는 거 할 줄 아는 집", {"asks": True}),
    # --- caps with a particle or 안 before the verb ---
    ("만원 안 넘게", {"p": 10000}),
    ("만원 안 넘는 걸로 점심", {"p": 10000, "asks": True}),
    ("만원을 넘지 않게", {"p": 10000}),
    ("2만원이 넘지 않는 저녁", {"p": 20000, "asks": True}),
    ("만원은 넘지 않았으면", {"p": 10000}),
    ("cap it at 15k", {"p": 15000}),
    ("15k is the max", {"p": 15000}),
    # --- near misses ---
    ("만원이 넘는 코스도 괜찮아요", {"asks": True}),
    ("the max fun for a day", {"asks": True}),
    # --- more exclusion forms ---
    ("튀긴 거 말고", {"t": ("fried", "튀김")}),
    ("zero spice please", {"t": SPICY}),
    ("spice-free dinner", {"t": SPICY, "asks": True}),
    ("non-spicy lunch", {"t": SPICY, "asks": True}),
    ("덜 맵게", {"t": SPICY}),
    ("매운 걸 못 먹어", {"t": SPICY}),
    ("매운 건 싫어", {"t": SPICY}),
    ("매운 음식은 별로", {"t": SPICY}),
    ("not a fan of spicy", {"t": SPICY}),
    ("I can't stand spicy food", {"t": SPICY}),
    ("noodles are a no", {"t": ("noodles",)}),
    ("not in the mood for noodles", {"t": ("noodles",)}),
    ("국수는 별로", {"t": ("noodles", "국수")}),
    # --- near misses ---
    ("a fan of spicy food", {"asks": True}),
    ("매운 음식 좋아해요", {"asks": True}),
    ("in the mood for noodles", {"asks": True}),
    # --- more ways to rule food out, and a thing to buy ---
    ("I don't need food, somewhere to relax", {"k": NON_FOOD, "asks": True}),
    ("no need for a restaurant, something to do", {"k": NON_FOOD, "asks": True}),
    ("음식점 말고 갈 만한 데", {"k": NON_FOOD, "asks": True}),
    ("음식이 아닌 걸로 추천", {"k": NON_FOOD, "asks": True}),
    ("먹을 데 말고 놀 데", {"k": NON_FOOD, "asks": True}),
    ("I'm not hungry, somewhere to walk", {"k": NON_FOOD, "asks": True}),
    ("배 안 고파요, 산책할 곳", {"k": NON_FOOD, "asks": True}),
    ("a gift to buy, not food", {"k": ("product",), "asks": True}),
    ("선물만 추천해줘", {"k": ("product",), "asks": True}),
    ("just a gift for a friend", {"k": ("product",), "asks": True}),
    # --- near misses ---
    ("a gift and then dinner", {"asks": True}),
    ("선물 받은 기념으로 저녁", {"asks": True}),
    # --- about the customer's account or the service, the weather, a meal already had: asks for nothing ---
    ("What's my budget?", {"asks": False}),
    ("how much do I have left this month?", {"asks": False}),
    ("can I change my settings?", {"asks": False}),
    ("delete my data", {"asks": False}),
    ("내 예산 얼마 남았어?", {"asks": False}),
    ("이번 달 얼마 썼어?", {"asks": False}),
    ("내 정보 삭제해줘", {"asks": False}),
    ("Is it going to rain tomorrow?", {"asks": False}),
    ("내일 비 와?", {"asks": False}),
    ("just saying hi", {"asks": False}),
    ("thanks for the help earlier", {"asks": False}),
    ("that was delicious, thanks!", {"asks": False}),
    ("잘 먹었습니다", {"asks": False}),
    ("맛있었어요 감사해요", {"asks": False}),
    ("어제 거기 갔는데 좋았어요", {"asks": False}),
    # --- near misses: the same words in a request ---
    ("a budget dinner", {"asks": True}),
    ("something for a rainy day", {"asks": True}),
    ("뭐 먹을까", {"asks": True}),
    # --- caps in more forms ---
    ("1만5000원 이하 점심", {"p": 15000, "asks": True}),
    ("maximum of 10,000 won", {"p": 10000}),
    ("max. 12,000 won for dinner", {"p": 12000, "asks": True}),
    ("within a 15k budget, lunch", {"p": 15000, "asks": True}),
    ("not exceeding 9000 won please", {"p": 9000}),
    ("10k limit, dinner", {"p": 10000, "asks": True}),
    ("I don't want to exceed 20,000 won", {"p": 20000}),
    ("2만원 선으로 저녁", {"p": 20000, "asks": True}),
    ("2만원 넘지 않는 선에서 저녁 추천", {"p": 20000, "asks": True}),
    ("7천원으로 먹을 수 있는 거", {"p": 7000, "asks": True}),
    ("under ten thousand won, a quick bite", {"p": 10000, "asks": True}),
    ("만원대로 점심 먹을 만한 거 있어?", {"p": 19999, "asks": True}),
    ("1.5만 이하로 저녁 먹을 곳", {"p": 15000, "asks": True}),
    ("만 오천원 안쪽으로 매운 거", {"p": 15000, "asks": True}),
    ("Dinner, no more than 9,000 won please", {"p": 9000, "asks": True}),
    ("cheap, below 8000, something sweet", {"p": 8000, "asks": True}),
    ("lunch under 12k?", {"p": 12000, "asks": True}),
    ("만원밖에 없어요, 점심 뭐 먹지", {"p": 10000, "asks": True}),
    ("2만원 있는데 저녁 추천", {"p": 20000, "asks": True}),
    ("만원으로 뭐 먹을까", {"p": 10000, "asks": True}),
    ("<=10000 won", {"p": 10000}),
    ("15k at the most", {"p": 15000}),
    ("keep it to 12,000 won", {"p": 12000}),
    ("12k or lower", {"p": 12000}),
    ("I have 15,000 won, lunch?", {"p": 15000, "asks": True}),
    ("I've got 12k left for dinner", {"p": 12000, "asks": True}),
    ("sub-10k lunch", {"p": 10000, "asks": True}),
    # near misses: a count, a time, a distance or a gift's price is no cap
    ("I have 2 kids, somewhere fun", {}),
    ("집에 강아지 2마리 있어요", {}),
    ("within 5 minutes walk", {"l": NON_FOOD}),
    ("at most 2 hours, something fun", {}),
    ("a table for under 3 people", {}),
    ("I walked 10,000 steps today", {}),
    ("2만원 선물 추천", {"p": 20000, "l": ("product",)}),  # the price of what is asked for
    # --- kinds looked for without being stated: ranked alone for the turn, never a constraint ---
    ("somewhere to walk this evening", {"l": NON_FOOD, "asks": True}),
    ("산책할 곳 추천해 줘", {"l": NON_FOOD, "asks": True}),
    ("a product to buy as a souvenir from Busan", {"l": ("product",), "asks": True}),
    ("주말에 놀러 갈 곳", {"l": NON_FOOD, "asks": True}),
    ("things to see in Mapo", {"l": NON_FOOD, "asks": True}),
    ("친구 선물 뭐 사지?", {"l": ("product",), "asks": True}),
    ("gift ideas for a friend who likes yoga", {"l": ("product",), "asks": True}),
    ("삼만원 미만으로 할 수 있는 체험 활동", {"p": 29999, "l": ("activity",), "asks": True}),
    ("lunch for two?", {"l": ("restaurant", "dish"), "asks": True}),
    ("점심 뭐 먹지?", {"l": ("restaurant", "dish"), "asks": True}),
    # near misses: food asked beside the walk, a meal already had, a market tour, an evening
    ("산책하고 저녁 먹을 곳", {"l": ()}),
    ("저녁에 산책", {"l": ()}),
    ("I already had lunch, anything fun?", {"k": NON_FOOD, "l": ()}),
    ("a food tour of the market", {"l": ()}),
    ("발 마사지 받을 곳", {"l": ()}),
    ("a cafe within walking distance", {"l": ()}),
    # --- asks for nothing: remarks, talk about the service ---
    ("Good morning!", {"asks": False}),
    ("이 서비스는 어떻게 쓰는 거예요?", {"asks": False}),
    ("ㅋㅋ 재밌네요", {"asks": False}),
    ("Do you speak Korean?", {"asks": False}),
    ("감사합니다, 다음에 또 물어볼게요", {"asks": False}),
    ("너 이름이 뭐야?", {"asks": False}),
    ("ok cool, bye", {"asks": False}),
    ("thanks a lot, that was helpful", {"asks": False}),
    # near misses: the same words in a request
    ("Korean food near me?", {"asks": True}),
    ("한국어 메뉴 있는 식당", {"asks": True}),
    # --- allergies said indirectly: what eating it does, what is in it, a condition ---
    ("갑각류 먹으면 두드러기 나요. 홍대 근처에서 저녁 먹을 데 있을까요?", {"a": ("crustacean",), "asks": True}),
    ("우유 마시면 배 아파요", {"a": ("milk",), "asks": False}),
    ("밀가루 먹으면 속이 안 좋아요", {"a": ("wheat",)}),
    ("우유 들어간 건 못 먹어요. 디저트 뭐 있을까요?", {"a": ("milk",), "asks": True}),
    ("peanut 들어간 건 절대 안 돼요, 디저트 카페 추천", {"a": ("peanut",), "asks": True}),
    ("돼지고기는 좀 그래요. 국밥 말고 뭐 먹지?", {"a": ("pork",), "t": ("국밥",), "asks": True}),
    ("복숭아 알레르기가 있어서요", {"a": ("peach",), "asks": False}),
    ("shrimp gives me hives", {"a": ("crustacean",), "asks": False}),
    ("Shrimp makes my throat itchy", {"a": ("crustacean",), "asks": False}),
    ("dairy doesn't agree with me", {"a": ("milk",)}),
    ("lactose-intolerant, coffee?", {"a": ("milk",), "asks": True}),
    ("I'm off meat this week, something hearty for dinner?", {"a": ("pork", "beef", "chicken"), "asks": True}),
    ("I gave up pork", {"a": ("pork",), "asks": False}),
    ("cutting out dairy for a while", {"a": ("milk",)}),
    ("no animal products", {"a": ("milk", "egg", "fish", "crustacean", "mollusc", "pork", "beef", "chicken")}),
    ("I have celiac disease", {"a": ("wheat",), "asks": False}),
    ("I'm pescatarian", {"a": ("pork", "beef", "chicken"), "asks": False}),
    ("오이 싫어해요", {"t": ("오이",), "asks": False}),
    ("I hate cucumbers", {"t": ("cucumbers",), "asks": False}),
    # near misses: a condition negated, a meal not had yet, a word inside another ("국밥" is no "밥" ruled out)
    ("I'm not pescatarian", {"asks": True}),
    ("점심은 못 먹었어요", {}),
    ("국밥 말고 뭐 먹지?", {"t": ("국밥",), "asks": True, "l": ("restaurant", "dish")}),
    # --- diets said of the speaker ---
    ("I'm a vegetarian, what can I eat nearby?", {"d": ("vegetarian",), "asks": True}),
    ("저는 비건이라서 고기 못 먹어요", {"d": ("vegan",), "a": ("pork", "beef", "chicken"), "asks": False}),
    ("채식해요. 점심 추천", {"d": ("vegetarian",), "asks": True}),
    ("I am a strict vegetarian, dinner?", {"d": ("vegetarian",), "asks": True}),
    # --- caps in more forms ---
    ("Something fun to do this evening, budget's 10,000 won", {"p": 10000, "asks": True}),
    ("I've got like 8 thousand won, lunch?", {"p": 8000, "asks": True}),
    ("between 10,000 and 15,000 won", {"p": 15000}),
    ("3만원 넘는 건 부담스러워요. 주말에 배울 수 있는 수업 있을까요?", {"p": 30000, "asks": True}),
    ("만오천원 정도까지는 괜찮아요, 저녁 추천해 주세요", {"p": 15000, "asks": True}),
    ("오천원 선에서 간단하게 먹을 거", {"p": 5000, "asks": True}),
    ("I can spend about 15k", {"p": 15000}),
    ("around 10,000 won for dinner", {"p": 10000, "asks": True}),
    ("만원 정도 점심", {"p": 10000, "asks": True}),
    ("1만원 언저리", {"p": 10000}),
    ("5천원쯤", {"p": 5000}),
    ("만원 정도까지 괜찮아요", {"p": 10000}),
    ("비싼 건 부담돼요, 만원 안쪽으로 저녁", {"p": 10000, "asks": True}),
    # near misses: "about" before a count, an amount more, a price point
    ("for about 3 people", {}),
    ("2만원 정도 더 있어요", {}),
    # --- caps as all one has, what must not be passed, a price level or so many bills ---
    ("2만원뿐이라 저녁은 간단히", {"p": 20000, "asks": True}),
    ("오늘은 만오천원만 쓸래요", {"p": 15000}),
    ("2만원 넘기면 안 돼요", {"p": 20000}),
    ("만원 넘어가지 않는 점심", {"p": 10000, "asks": True}),
    ("3만원 넘어서면 곤란해요", {"p": 30000}),
    ("상한은 2만원", {"p": 20000}),
    ("2만원 초과 금지", {"p": 20000}),
    ("만원 이상은 너무 부담돼요", {"p": 9999}),
    ("오천원도 안 하는 간식", {"p": 4999, "asks": True}),
    ("저녁은 2만원 선", {"p": 20000, "asks": True}),
    ("2만원짜리 코스가 궁금해요", {"p": 20000, "asks": True}),  # the price of what is wanted: nothing dearer
    ("만원 두 장으로 저녁", {"p": 20000, "asks": True}),
    ("저녁값 2만원", {"p": 20000, "asks": True}),
    ("20k is the most I'd pay for dinner", {"p": 20000, "asks": True}),
    ("I can only afford 9,000 won", {"p": 9000}),
    ("budget's tight, 12k", {"p": 12000}),
    ("a 15,000 won ceiling", {"p": 15000}),
    ("anything to eat that fits into 8k?", {"p": 8000, "asks": True}),
    ("10k is all I have", {"p": 10000}),
    # --- the price of what is asked for: nothing dearer ---
    ("선릉역 근처 2만원 코스 요리", {"p": 20000, "asks": True}),
    ("저녁은 3만원", {"p": 30000, "asks": True}),
    ("만원 점심 어디 없나", {"p": 10000, "asks": True}),
    ("1만원 전후 점심", {"p": 10000, "asks": True}),
    ("3만원 안 되는 체험", {"p": 29999, "asks": True}),
    ("만원 가량 저녁", {"p": 10000, "asks": True}),
    ("lunch for 10k?", {"p": 10000, "asks": True}),
    ("a 15,000 won dinner", {"p": 15000, "asks": True}),
    ("dinner at 20k or so", {"p": 20000, "asks": True}),
    ("a class with 30k", {"p": 30000, "asks": True}),
    # --- a part of a price band ---
    ("2만원대 초반으로 저녁", {"p": 23000, "asks": True}),
    ("만원대 중반 점심", {"p": 16000, "asks": True}),
    ("3만원대 후반 체험", {"p": 39999, "asks": True}),
    # --- a range: its upper end binds ---
    ("만원에서 2만원 사이 저녁", {"p": 20000, "asks": True}),
    ("1-2만원 점심", {"p": 20000, "asks": True}),
    ("저녁 1만~2만원", {"p": 20000, "asks": True}),
    ("dinner for 10k to 20k", {"p": 20000, "asks": True}),
    ("somewhere 15,000-25,000 won for dinner", {"p": 25000, "asks": True}),
    ("between 10k and 15k, lunch", {"p": 15000, "asks": True}),
    # near misses: a distance, a table, a discount, a phone number
    ("Failing turn for +82-10-5555-0199", {"asks": True}),
    ("call me at 010-5555-1234 about dinner", {"asks": True}),
    ("a 10k run along the river", {"asks": True}),
    ("a table for 4 at 7pm", {"asks": True}),
    ("만원 할인 쿠폰 있는 곳", {"asks": True}),
    # --- more forms ---
    ("고기 들어간 건 안 돼요, 매콤한 거 먹고 싶어요", {"a": ("pork", "beef", "chicken"), "asks": True}),
    ("술 안 마셔요", {"t": ("bar",), "asks": False}),
    ("not looking for food, just somewhere nice to walk", {"k": NON_FOOD, "asks": True}),
    # --- asks: a colloquial question ---
    ("떡볶이집 어디 괜찮은 데 없나", {"asks": True}),
    # --- something to do, in Korean: an activity, or what one may do ---
    ("주말에 할 만한 활동 추천해 주세요", {"asks": True, "l": ("activity",)}),
    ("이번 주말에 뭐 할 만한 거 없을까요?", {"asks": True, "l": NON_FOOD}),
    ("점심으로 먹을 만한 거 있어?", {"asks": True, "l": ("restaurant", "dish")}),
    ("어제 과음했는데 해장할 만한 뜨끈한 국물 있나요?", {"asks": True, "l": ()}),  # 해장할: a verb of its own
]

FIELDS = {"a": "allergens", "d": "diets", "p": "max_price", "t": "exclude_tags", "k": "kinds"}
DEFAULTS = {"a": (), "d": (), "p": None, "t": (), "k": ()}


def test_the_table_holds_at_least_150_cases_in_both_languages():
    korean = [text for text, _ in CASES if any("\uac00" <= ch <= "\ud7a3" for ch in text)]
    assert len(CASES) >= 150
    assert len(korean) >= 60
    assert len(CASES) - len(korean) >= 60
    assert len({text for text, _ in CASES}) == len(CASES)


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[text for text, _ in CASES])
def test_read(text, expected):
    found = stated.read(text)
    got = {key: getattr(found.constraints, name) for key, name in FIELDS.items()}
    want = {key: expected.get(key, DEFAULTS[key]) for key in FIELDS}
    assert got == want
    if "asks" in expected:
        assert found.asks is expected["asks"]
    if "l" in expected:
        assert found.looks_for == expected["l"]
    # A word stated as a constraint never becomes a search term.
    left = stated.search_terms([found.query])
    for code in found.constraints.allergens:
        synonyms = {term for term, codes in vocabulary.ALLERGEN_TERMS.items() if codes == (code,)}
        assert not synonyms & set(left), (text, left)
    assert not set(found.constraints.exclude_tags) & set(left)
    assert not any(char.isdigit() for char in "".join(left)) or found.constraints.max_price is None


def test_a_diet_said_of_the_speaker_leaves_the_search_text_and_one_asked_for_stays():
    for text in ("I'm a vegetarian, what can I eat nearby?", "저는 채식주의자예요. 점심 추천", "비건이라서 저녁 추천"):
        left = set(stated.search_terms([stated.read(text).query]))
        assert not {"vegetarian", "채식주의자", "채식주의", "비건"} & left
    assert "vegan" in stated.search_terms([stated.read("vegan lunch").query])
    assert "비건" in stated.search_terms([stated.read("비건 음식 추천해 주세요").query])
    # "plant-based" is searched as the catalog's word for it
    assert "vegan" in stated.search_terms([stated.read("Something plant-based for lunch near Hongdae?").query])


def test_a_word_ruled_out_as_itself_leaves_the_search_text_with_its_cue():
    assert stated.read("오이는 못 먹어요").query.split() == []
    query = stated.read("I hate cucumbers, lunch?").query
    assert "hate" not in query
    assert "cucumbers" not in query
    assert "lunch" in query


def test_a_stated_word_leaves_the_search_text_and_the_rest_stays():
    found = stated.read("새우 알레르기가 있어요. 저녁 뭐 먹지?")
    assert "새우" not in found.query
    assert "저녁" in found.query
    assert stated.read("만원 이하로 점심 추천해줘").query.split()[-2:] == ["점심", "추천해줘"]
