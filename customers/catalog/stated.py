"""What a customer's message states, read in code: allergies, diets, exclusions, a price cap and kinds that bind the
recommendation, whether it asks for anything at all, and the text left to search once those are taken out.

One pure function, `read`, in Korean and English. A vocabulary word counts as a constraint only in a statement form:
negation, exclusion or dislike before it ("allergic to", "can't eat", "no", "without", "avoid", "not", "not a fan of",
"can't stand", "I'm off", "gave up"), or after it ("알레르기", "못 먹어요", "빼고", "없이", "없는", "안 들어간",
"말고", "제외", "싫어요", "별로", "좀 그래요", "들어간 건 안 돼요", "먹으면 두드러기 나요", "마시면 배 아파요",
"-free", "allergy", "are a no", "gives me hives", "doesn't agree with me"); words joined to a stated one by "and",
"or", a comma, "랑", "하고", "이나" share its statement ("no pork or beef", "새우랑 게 빼고"). A word no code or listed
tag covers is ruled out as itself in those forms ("김치 빼고", "without kimchi"; never "no worries", "이거 말고"). A
diet word states the diet unless it is negated ("I'm not vegan"), and so does a condition ("celiac", "pescatarian");
a diet said of the speaker ("I'm a vegetarian", "비건이라서") leaves the search text, one asked for ("vegan lunch")
stays in it; "mild", "순한 맛" rule spicy out. "I love sesame" states nothing. A clause that says the speaker is not
concerned ("my friend is allergic to shrimp but I'm not") states nothing. Every word of a statement leaves the search
text: a constraint never becomes a search term.

Price caps: an amount with a cap word ("under 15,000 won", "at most 10000", "15k or less", "20,000 won tops", "budget
20,000", "I have 15,000 won to spend", "nothing over 20k", "about 15k", "만원 이하", "2만원 안쪽", "오천원 이내",
"최대 1만 5천원", "만원을 넘지 않게", "만원 넘는 건 싫어요", "2만원으로 해결", "만원 정도", "만원뿐", "2만원 넘기면 안
돼요", "상한 2만원", "점심값 만원", "5천원짜리", "만원 한 장으로", "I can afford 12k", "15k is the most I can spend")
is the most an item may cost, and so is the price of what is asked for ("2만원 코스", "저녁은 2만원", "lunch for 10k",
"a 12k dinner"; not "a 10k run", "만원 할인"), what each person may spend ("1인당 2만원", "한 사람당 만원", "10k per
head max", "10k pp"), what one carries ("만원 가지고", "만원이면 될까요?"), and the upper end of a range ("1만~2만원",
"만원에서 2만원 사이", "10k to 20k"); "2만원대" is below 30,000 ("2만원대 초반" and "2만원 초반대" up to 23,000,
"중반" up to 26,000); "미만", "아래", "밑", "under", "below", "less than", "cheaper than", "3만원 안 되는" and "3만원
이상은 부담" exclude the amount itself. Korean number words (오천, 만, 이만, 십만, 만오천, 1만 5천, 1.5만) and English
ones before "thousand" ("eighteen thousand", "twenty-five thousand", "a hundred thousand") are read. "Free" ("free
things to do", "for free", "costs nothing", "무료로", "공짜", "돈 안 드는", "입장료 없는") is a cap of 0; not "gluten
free", "free time", "무료 리필" or "무료해요".

Kinds: food ruled out ("not food", "not to eat", "instead of eating", "I already ate", "음식 말고", "밥 먹었어요")
asks for a place or an activity, narrowed to the one it names ("just a place", "체험") or to a thing to buy ("a gift,
not food"); "activity only", "놀 거리", "볼거리", "장소만" do too unless the message also asks for food; "food only",
"음식만", "놀 거리 말고 먹을 거" ask for food. A kind pointed to without being stated ("lunch?", "somewhere to walk",
"a gift", "산책할 곳") is `looks_for`: this turn ranks it alone, and no constraint is kept. Remarks ("재밌네요") and
talk about the service ("do you speak Korean?") ask for nothing.
"""

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from customers.catalog import vocabulary
from customers.catalog.terms import HANGUL
from customers.catalog.terms import terms as search_terms
from customers.data import Constraints, StatedRequest

FOOD_KINDS = ("restaurant", "dish", "product")
NON_FOOD_KINDS = ("activity", "place")

# Words that exclude catalog tags when stated (no allergen code covers them): word -> the tags it rules out.
# A Korean noun before 빼고/말고/제외/없이 that is not listed here is excluded as itself.
_TAG_WORDS: dict[str, tuple[str, ...]] = {
    "spicy": ("spicy", "매운맛"),
    "hot": ("spicy", "매운맛"),
    "매운": ("spicy", "매운맛"),
    "매운맛": ("spicy", "매운맛"),
    "매운거": ("spicy", "매운맛"),
    "맵지": ("spicy", "매운맛"),
    "맵게": ("spicy", "매운맛"),
    "spice": ("spicy", "매운맛"),
    "mala": ("mala",),
    "마라": ("mala",),
    "alcohol": ("bar",),
    "drinks": ("bar",),
    "booze": ("bar",),
    "술": ("bar",),
    "술집": ("bar",),
    "bar": ("bar",),
    "bars": ("bar",),
    "pubs": ("bar",),
    "korean": ("korean", "한식"),
    "한식": ("korean", "한식"),
    "chinese": ("chinese", "중식"),
    "중식": ("chinese", "중식"),
    "중국집": ("chinese", "중식"),
    "japanese": ("japanese", "일식"),
    "일식": ("japanese", "일식"),
    "thai": ("thai", "태국음식"),
    "noodles": ("noodles",),
    "면": ("noodles",),
    "국수": ("noodles", "국수"),
    "coffee": ("coffee", "커피"),
    "커피": ("coffee", "커피"),
    "cafe": ("cafe", "카페"),
    "cafes": ("cafe", "카페"),
    "카페": ("cafe", "카페"),
    "fried": ("fried", "튀김"),
    "튀김": ("fried", "튀김"),
    "튀긴": ("fried", "튀김"),
    "raw fish": ("sushi", "스시"),
    "sushi": ("sushi", "스시"),
    "회": ("sushi", "스시"),
    "dessert": ("dessert", "디저트"),
    "sweets": ("dessert", "디저트"),
    "디저트": ("dessert", "디저트"),
    "cilantro": ("cilantro", "고수"),
    "coriander": ("cilantro", "고수"),
    "고수": ("cilantro", "고수"),
}
# Words that rule out allergen codes without being synonyms of one in the shared vocabulary.
_EXTRA_ALLERGEN_WORDS: dict[str, tuple[str, ...]] = {
    "meat": ("pork", "beef", "chicken"),
    "고기": ("pork", "beef", "chicken"),
    "육류": ("pork", "beef", "chicken"),
    "nut": ("tree_nut",),
    "shrimps": ("crustacean",),
    "prawns": ("crustacean",),
    "crabs": ("crustacean",),
    "oysters": ("mollusc",),
    "clams": ("mollusc",),
    "mussels": ("mollusc",),
    "walnuts": ("tree_nut",),
    "almonds": ("tree_nut",),
    "cashews": ("tree_nut",),
    "eggs": ("egg",),
    "dairy products": ("milk",),
    "pig": ("pork",),
    "bacon": ("pork",),
    "ham": ("pork",),
    "삼겹살": ("pork",),
    "소": ("beef",),
    "치킨": ("chicken",),
    "오리": (),
    "animal products": ("pork", "beef", "chicken", "fish", "crustacean", "mollusc", "milk", "egg"),
    "동물성": ("pork", "beef", "chicken", "fish", "crustacean", "mollusc", "milk", "egg"),
}
# Conditions that state allergen codes by themselves, as a diet does, unless negated ("I have celiac disease",
# "I'm pescatarian"; never "I'm not pescatarian").
_CONDITION_WORDS: dict[str, tuple[str, ...]] = {
    "celiac": ("wheat",),
    "coeliac": ("wheat",),
    "celiac disease": ("wheat",),
    "coeliac disease": ("wheat",),
    "셀리악": ("wheat",),
    "pescatarian": ("pork", "beef", "chicken"),
    "pescetarian": ("pork", "beef", "chicken"),
    "페스코": ("pork", "beef", "chicken"),
}
# Diet statements in other words: "meatless", "plant-based" and the like are in the shared vocabulary already.
_EXTRA_DIET_WORDS: dict[str, tuple[str, ...]] = {
    "vegetarians": ("vegetarian",),
    "vegans": ("vegan",),
    "채식으로": ("vegetarian",),
    "비건으로": ("vegan",),
    "채식만": ("vegetarian",),
    "비건만": ("vegan",),
}

_NEG_BEFORE = re.compile(
    r"(?:allergic|allergy|allergies|intoleran\w*|can\s*n?o?'?t\s+(?:eat|have|do|handle|take)|cannot\s+(?:eat|have|do)|"
    r"can\s+not\s+(?:eat|have)|don'?t\s+(?:eat|want|like|do|have)|do\s+not\s+(?:eat|want|like)|won'?t\s+eat|"
    r"doesn'?t\s+eat|never\s+eat|no|not|non|without|avoid\w*|except|excluding|exclude|hate|skip|hold\s+the|"
    r"free\s+of|nothing(?:\s+with)?|anything\s+but|rather\s+not|stay\s+away\s+from|keep\s+away\s+from|sensitive\s+to|"
    r"react\s+to|no\s+more|zero|not\s+a\s+fan\s+of|can'?t\s+stand|not\s+in\s+the\s+mood\s+for|sick\s+of|tired\s+of|"
    r"(?:i'?m|i\s+am|we'?re|we\s+are|been|staying|keeping)\s+off|(?:gave|given|giving|give)\s+up|(?:cutting|cut)\s+out|"
    r"cutting\s+back\s+on|can\s*n?o?'?t\s+(?:tolerate|digest|stomach)|reacts?\s+badly\s+to|(?:is|are)\s+allergic\s+to)"
    r"(?:\s+(?:to|any|anything|with|of|eat|eating|have|having|the|a|an|some|too|very|so))*[\s-]*$"
)
_NEG_AFTER_EN = re.compile(
    r"^\s*-?\s*(?:free\b|allerg\w*|intoleran\w*|-?less\b|(?:is|are)\s+(?:a\s+)?(?:no|not\s+for\s+me)\b|"
    r"(?:gives?|gave)\s+me\s+(?:hives|a\s+rash|rashes|a\s+reaction|a\s+stomach\s*ache|stomach\s*aches)\b|"
    r"makes?\s+(?:me|my\s+\w+)\s+(?:sick|ill|itchy|itch|swell|break\s+out|hurt)\b|(?:does|do)\s*n'?o?t\s+agree\s+with\s+me\b|"
    r"(?:is|are)\s+off\s+(?:the\s+)?(?:table|menu|limits)\b|(?:is|are)\s+(?:a\s+)?no-?go\b)"
)
_NEG_AFTER_KO = re.compile(
    r"^\s*(?:에|이|가|은|는|을|를|도|만|류|류는|류를|류도)?\s*(?:(?:이|가)?\s*들어(?:간|가는|있는|가\s*있는)\s*)?"
    r"(?:(?:음식|요리|메뉴|거|것|건|걸|게)\s*(?:은|는|을|를|이|가|도)?\s*)?(?:절대로?\s*|전혀\s*|아예\s*|진짜\s*|정말\s*)?"
    r"(?:알레르기|알러지|알레르|못\s*먹|못\s*드|못\s*마|빼|없이|없는|없게|말고|제외|안\s*(?:먹|마시|마셔|들어|넣|돼|되|좋)|"
    r"들어가지\s*않|들어가지\s*않|넣지\s*말|넣지\s*않|싫|별로|금지|피해|피하|먹으면\s*안|먹지\s*않|먹지\s*못|먹지\s*말|"
    r"않|노노|no\b|x\b|프리|free\b|좀\s*(?:그래|그렇|별로|부담)|안\s*땡|패스|"
    r"(?:먹으면|마시면|먹을\s*때|들어가면|닿으면)\s*(?:[\uac00-\ud7a3]+\s*){0,2}?(?:두드러기|알레르기|알러지|탈|배탈|아파|아프|가려|붓|부어|큰일|"
    r"안\s*(?:돼|되|맞|좋)|불편|힘들))"
)
_NEG_BEFORE_KO = re.compile(r"(?:안|덜|노|무|non)\s*$")
_NOT_DIET = re.compile(
    r"(?:\bnot|\bnon|\bno\s+need\s+(?:to\s+be|for)|\bisn'?t|\baren'?t|\bwasn'?t)\s*(?:a\s+|an\s+|really\s+)?$"
)
# A diet said of the speaker ("I'm vegetarian", "저는 비건이에요") is a rule, not what is looked for: it leaves the
# search text, where "vegan lunch" keeps it.
_SELF_DIET_BEFORE = re.compile(
    r"(?:\bi'?m|\bi\s+am|\bwe'?re|\bwe\s+are|\bi\s+(?:eat|follow|keep|went|go)|\bi'?ve\s+(?:gone|been)|\bbeing|"
    r"\b(?:i'?m|i\s+am)\s+(?:now|currently|still)|저는|전|나는|난|제가|내가)"
    r"\s*(?:(?:a|an|strictly|strict|fully|mostly|now|100%|completely|totally|full|on\s+a)\s+)*$"
)
_SELF_DIET_AFTER_KO = re.compile(
    r"^(?:주의자)?\s*(?:이에요|예요|이야|야|입니다|이라서|라서|이라|이거든요|거든요|이고|인데|이니까|해요|합니다|중이에요|"
    r"중이라|중|하고\s*있어요|하고\s*있어서|식\s*중|(?:을|를)\s*(?:해요|하고\s*있))"
)
_NOT_DIET_KO = re.compile(r"^\s*(?:은|는|이|가)?\s*(?:아니|아닌|안\s*해|상관\s*없)")
_JOINER = re.compile(r"^[\s,&/·]*(?:(?:and|or|nor|&|,)[\s,]*)*$|^\s*(?:이랑|랑|하고|과|와|이나|나|및|,|\s)+\s*$")
# A clause that says the speaker is not the one concerned, or that voices liking: it states nothing.
_NOT_ME = re.compile(
    r"but\s+(?:i'?m|i\s+am)\s+not|but\s+not\s+me|i'?m\s+fine\s+with|저는\s*괜찮|나는\s*괜찮|전\s*괜찮|난\s*괜찮|"
    r"저는\s*아니|나는\s*아니"
)
_CLAUSES = re.compile(r"[.!?;\n\u3002\uff01\uff1f]+|\bbut\b|\bhowever\b|\bthough\b|그런데|근데|하지만|지만\s|는데\s")

# --- price caps -----------------------------------------------------------------------------------------------------
_KO_DIGITS = {"일": 1, "이": 2, "삼": 3, "사": 4, "오": 5, "육": 6, "칠": 7, "팔": 8, "구": 9}
_KO_UNITS = {"십": 10, "백": 100, "천": 1000}
_KO_AMOUNT = re.compile(
    r"(?<![\w.])((?:\d[\d,]*(?:\.\d+)?|[일이삼사오육칠팔구십백]{1,4})?\s*만\s*(?:(?:\d+|[일이삼사오육칠팔구])?\s*천|\d{1,4}(?![\d,]))?"
    r"(?:\s*(?:\d+|[일이삼사오육칠팔구])?\s*백)?"
    r"|(?:\d+|[일이삼사오육칠팔구])?\s*천(?:\s*(?:\d+|[일이삼사오육칠팔구])?\s*백)?"
    r"|\d[\d,]*)\s*(원|₩)?\s*(대)?"
)
_KO_CAP_AFTER = re.compile(
    r"^\s*(?:으로|로|에|의|을|를|이|가|은|는)?\s*(?:이하|이내|안쪽|안짝|아래|미만|까지|안\s*넘|안으로|안에서|안에|밑으로|밑|내로|내에서|내|넘지\s*(?:않는|않게|않을|않은)?\s*(?:선\s*(?:에서|으로|까지)?)?|넘으면|선에서|"
    r"(?:넘기|넘어가|넘어서)(?:지\s*(?:않|말)\w*|면(?:\s*안)?\s*\w*)|상한\w*|뿐\w*|만\s*(?:쓰|쓸|써|내|낼)\w*|도\s*안\s*(?:되|하)\w*|"
    r"한도|짜리|미만으로|언더|↓|(?:까지\s*)?쓸\s*수\s*있\w*|초과\s*(?:하지\s*(?:않|말)|안\s*(?:하|되))\w*|(?:가지고|갖고|들고)\b|이면\s*(?:될|되|돼|충분|가능)\w*|전후|가량|수준|사이|안\s*(?:되|하)\w*|선(?:\s*(?:으로|까지|이하|안|이면|정도)|(?=\s|[,.!?~]|$))|정도\s*(?:까지|이하|로|예산|한도)(?:는|은|도)?|언저리|안팎|내외|쯤|"
    r"정도(?!\s*(?:더|넘|이상|초과))|예산|"
    r"(?:으로|로)\s*(?:먹을\s*수|해결|충분|살\s*수|할\s*수|즐길\s*수|가능|뭐|뭘|먹|점심|저녁|할\s*만|갈\s*만)|"
    r"밖에\s*(?:없\w*|안\s*남\w*)|(?:만\s*)?있(?:어요|어|는데|으니|습니다))"
    # "2만원까지만요", "만원 이하로만": only so much, the rest of the word.
    r"(?:(?:으로|로)?만요?(?=\s|[,.!?~]|$))?"
)
# Less than the amount: "미만", "아래", "밑", "언더", "3만원 안 되는", and what costs it or more ruled out ("3만원
# 이상은 부담"); an item at exactly the amount breaks them.
_KO_BELOW = re.compile(r"미만|아래|밑|언더|이상|^\s*(?:도|이|가)?\s*안\s*(?:되|하)")
# "만원 넘는 건 싫어요", "2만원 초과는 안 돼요": what costs more is ruled out.
_KO_CAP_OVER = re.compile(
    r"^\s*(?:을|를|이|가)?\s*(?:넘는|넘어가는|넘어서는|초과|이상)\s*"
    r"(?:(?:메뉴|음식|요리|식당|가게|집|곳|데|건|거|것|걸|게)?\s*(?:은|는|이|가|을|를|도)?)?\s*"
    r"(?:좀|너무|조금|살짝|많이|진짜|정말)?\s*(?:싫|안\s*(?:돼|되|됨|먹|가)|빼|말고|제외|부담|노노|별로|못|무리|금지|곤란|힘들|어려|x(?![a-z]))\w*"
)
# An amount as the price of what is asked for: before it ("2만원 코스", "만원 점심") or after a meal ("저녁 2만원").
_KO_PRICE_OF = re.compile(
    r"^\s*(?:점심|저녁|아침|식사|밥|코스|메뉴|세트|정식|요리|선물|디저트|간식|커피|체험|클래스|수업|활동|맛집|식당)"
)
_KO_MEAL_BEFORE = re.compile(r"(?:점심|저녁|아침|식사|밥)\s*(?:은|는|으로|로)?\s*$")
# What follows the lower end of a range ("1만~2만원", "10k to 20k", "만원에서 2만원 사이"): the upper end binds.
_RANGE_ON = re.compile(r"^\s*(?:[-\u2013~]|to\b|에서|부터)\s*[\d일이삼사오육칠팔구십만천]")
# The part of a price band ("2만원대 초반"): how far into it, in tenths of the band (its late part is all of it).
_BAND_PARTS = {"초반": 3, "중반": 6}
_BAND_PART = re.compile(r"^\s*(초반|중반|후반)(?:\s*대)?")
# "만원 한 장으로", "만원 두 장이면": so many bills of the amount.
_KO_BILLS = re.compile(r"^\s*(한|두|세)\s*장(?:\s*(?:으로|로|이면|가지고|만))?")
# So much a person ("1인당 만원", "한 사람당 2만원", "1인 기준 2만원", "10k per head", "10k pp"): what each item
# may cost.
_KO_PER_PERSON = r"(?<![\w.])(?:(?:\d+\s*|한\s*)?(?:인|사람|명)\s*당|1\s*인(?:\s*기준)?)"
_EN_PER_PERSON = r"\b(?:per\s+(?:person|head)|pp|a\s+head|each)\b"
_KO_CAP_BEFORE = re.compile(
    r"(?:예산|최대|최고|많아야|한도|상한(?:선)?|(?:(?<=점심|저녁|아침|식사|커피|간식)|(?<=밥|술))값)\s*(?:은|는|이|가|:)?\s*$"
    # The upper end of a range ("1-2만원", "1만~2만원"): its lower end binds nothing.
    r"|[\d일이삼사오육칠팔구십백천만,.]*[\d만천]\s*원?\s*[-\u2013~]\s*$"
    r"|" + _KO_PER_PERSON + r"\s*$"
)
# English number words count only before "thousand" ("under ten thousand won", "twenty-five thousand", "a hundred
# thousand"), never alone ("under one roof").
_EN_UNITS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9}
_EN_TEENS = {"ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16}
_EN_TEENS |= {"seventeen": 17, "eighteen": 18, "nineteen": 19}
_EN_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80}
_EN_TENS |= {"ninety": 90}
_EN_NUMBER_WORDS = {**_EN_UNITS, **_EN_TEENS, **_EN_TENS, "a": 1, "hundred": 100, "and": 0}
_EN_UNDER_HUNDRED = (
    f"(?:(?:{'|'.join(_EN_TENS)})(?:[\\s-](?:{'|'.join(_EN_UNITS)}))?|{'|'.join(_EN_TEENS)}|{'|'.join(_EN_UNITS)})"
)
_EN_NUMBER_PHRASE = (
    f"(?:(?:a|{'|'.join(_EN_UNITS)})\\s+hundred(?:\\s+(?:and\\s+)?{_EN_UNDER_HUNDRED})?|{_EN_UNDER_HUNDRED})"
)
_EN_AMOUNT = re.compile(
    r"(?<![\w.])(?:₩|krw\s*)?\s*(\d[\d,]*(?:\.\d+)?|" + _EN_NUMBER_PHRASE + r"(?=\s+thousand\b))"
    r"\s*(k\b|thousand\b)?\s*(?:-?(?:won\b|krw\b|₩))?"
)
_EN_CAP_BEFORE = re.compile(
    r"(?:(?:tight|small|limited|low)\s+budget[,:]?|under|below|less\s+than|at\s+most|max(?:imum)?\.?(?:\s+of)?|up\s+to|no\s+more\s+than|not\s+more\s+than|"
    r"within(?:\s+(?:a|my|the|about))?|(?:not|without|never)\s+(?:exceeding|going\s+over)|"
    r"cheaper\s+than|budget(?:'s|\s+(?:is|of|around|about|roughly|only|just|tight)){0,2}|spend(?:\s+only)?|<=?|≤|under\s+about|"
    r"keep\s+it\s+(?:to|at)|(?:i\s+)?(?:have|'ve\s+got|got)(?:\s+(?:about|around|just|like|only|maybe|roughly))?|sub-?|"
    r"(?:nothing|not|no|never)\s+(?:(?:that|which)\s+)?(?:(?:costs?|is|are|priced)\s+)?(?:over|above|more\s+than|pricier\s+than)|"
    r"less\s+than\s+or\s+equal\s+to|at\s+or\s+(?:under|below)|only\s+(?:have|got)|have\s+only|"
    r"only\s+spend|can\s+(?:only\s+)?spend|between\s+\S+(?:\s+won)?\s+and|cap\s+it\s+at|(?:price\s+)?(?:limit|cap|ceiling)(?:\s+(?:is|of))?|"
    r"afford|fits?\s+(?:in|into)|"
    r"(?:n't|\bnot|\bnever|\bcant|\bdont|\bwont)\s+(?:\w+\s+){0,3}?(?:more\s+than|over|above|exceed)|"
    r"\babout|\baround|\broughly|\bapproximately|~)"
    r"(?:\s+(?:about|around|roughly|approximately|like|maybe|only|just))*\s*[:,]?\s*$"
)
# What a bare number before these counts is not money ("within 5 minutes", "at most 2 hours", "under 3 people").
_NOT_MONEY = re.compile(
    r"^\s*(?:minutes?|mins?|hours?|hrs?|people|persons?|kids|km|kilomet\w+|miles?|steps|days?|years?|nights?|%)"
)
_CURRENCY = re.compile(r"won|krw|₩")
# Less than the amount ("under 10k", "below 15,000 won", "cheaper than 12k", "< 10000"): never at it.
_EN_BELOW = re.compile(r"(?<!\bat\sor\s)\b(?:under|below|sub)\b|\b(?:less|cheaper)\s+than\b(?!\s+or\s+equal)|<(?!=)")
_DOT_THOUSANDS = re.compile(r"\d{1,3}(?:\.\d{3})+")
# Before the upper end of a range ("10k to 20k", "10,000-15,000 won", "from 10 to 20 thousand won"), which binds when
# it carries its unit (a phone number's "10-5555" is no range of prices).
_EN_RANGE_BEFORE = re.compile(r"\d[\d,.]*\s*(?:k|thousand|won)?\s*(?:to|-|\u2013)\s*$")
# An amount as the price of what is asked for: "lunch for 10k", "dinner with 20,000 won", "lunch at 10k", "a 10k
# lunch" (not "a 10k run": a distance).
_EN_PRICE_FOR = re.compile(r"\b(?:for|with|at)\s*$")
_EN_PRICE_OF = re.compile(
    r"^\s*(?:lunch|dinner|breakfast|brunch|meal|menu|course|set|gift|present|dessert|snack|class|lesson|activity|dish)"
)
# Free ("free things to do", "for free", "costs nothing", "무료로", "공짜", "돈 안 드는", "입장료 없는"): a cap of 0,
# which items of unknown price pass as they pass any cap. Never "free time", "free parking", "무료 리필", "무료해요"
# (bored), nor "free" after a word it frees of ("gluten free places", "duty free"): `_freed_word` decides those.
_FREE_EN = re.compile(
    r"\bfor\s+free\b|\bfree\s+of\s+charge\b|\bcosts?\s+nothing\b|"
    r"\bno\s+(?:cost|charge|(?:entrance|admission|entry)\s+fee)\b|\bwithout\s+(?:spending|paying)\b|"
    r"\b(?:doesn'?t|does\s+not|won'?t|don'?t|do\s+not)\s+cost\s+(?:anything|a\s+thing|money|a\s+dime|a\s+won)\b|"
    r"\b(?:something|anything|things?|stuff|places?|spots?|somewhere|activit(?:y|ies)|events?|ideas?|options?)\s+"
    r"(?:(?:that(?:'s|\s+is|\s+are)|which\s+(?:is|are)|to\s+(?:do|see|visit))\s+)?(?:totally\s+|completely\s+)?"
    r"free\b(?![\s-]*(?:time|of\b|from|day|wi-?fi|parking|refills?))|"
    r"(?<![\w-])(?<!-\s)free\s+(?:to\s+(?:enter|visit|do|see|get\s+in|go|attend|join)\b|"
    r"(?:entry|admission|entrance|things|stuff|places?|spots?|activit(?:y|ies)|events?|attractions?|options?|ideas?)\b)"
)
_NOT_FREEING = frozenset(("duty", "tax", "sugar", "fat", "calorie", "caffeine", "smoke", "stress", "hands", "cruelty"))
_FREE_KO = re.compile(
    r"(?:무료|공짜)(?!\s*(?:주차|와이파이|배송|리필|시식|쿠폰|음료|제공|서비스|업그레이드|사이즈업|반찬|wi-?fi))(?!하|한|해|함|했)|"
    r"돈\s*(?:이|을|은)?\s*(?:하나도\s*|전혀\s*)?안\s*(?:드는|들고|들이고|들어가는|쓰고|쓰는)|돈\s*(?:없이|안\s*내고)|"
    r"입장료\s*(?:가|는|도)?\s*(?:없는|없이|안\s*드는|안\s*받는)"
)
_PER_PERSON = re.compile(f"{_KO_PER_PERSON}|{_EN_PER_PERSON}")
_EN_CAP_AFTER = re.compile(
    r"^\s*(?:(?:or|and)\s+(?:less|under|below|cheaper)|to\s+spend\b|is\s+(?:my|the)\s+(?:limit|max|maximum|budget|cap)\b|"
    r"max\b|tops\b|at\s+(?:the\s+)?most|budget|limit\b|cap\b|ceiling\b|or\s+so\s+max|or\s+lower\b|left\b|"
    r"is\s+(?:the\s+)?most\b|is\s+all\s+i\s+(?:have|'ve\s+got|can)|-?ish\b|or\s+so\b|"
    + _EN_PER_PERSON
    + r"(?:\s*(?:max\b|tops\b|at\s+(?:the\s+)?most\b|or\s+less\b))?)"
)

# --- what a request is --------------------------------------------------------------------------------------------
# Words of small talk, thanks, greetings and questions about the service: a message made only of these (and of
# statements) asks for nothing.
_SMALL_TALK = frozenset(
    (
        *("thanks", "thank", "thx", "ty", "cheers", "that", "thats", "that's", "all", "ok", "okay", "bye", "goodbye"),
        *("hi", "hello", "hey", "yo", "morning", "evening", "afternoon", "night", "nice", "great", "cool", "awesome"),
        *("how", "are", "doing", "who", "this", "does", "work", "works", "weather", "is", "was", "were", "be"),
        *("much", "very", "lot", "lots", "fine", "well", "sure", "yes", "no", "nope", "yeah", "yep", "got", "noted"),
        *("just", "wanted", "say", "tell", "let", "know", "bot", "service", "app", "help", "can", "do", "will"),
        *("again", "later", "see", "soon", "have", "day", "your", "name", "what", "s", "it", "its", "up", "sup"),
        *(
            "there",
            "good",
            "the",
            "a",
            "an",
            "you",
            "me",
            "i",
            "im",
            "am",
            "my",
            "mine",
            "for",
            "to",
            "of",
            "today",
            "now",
        ),
        *("perfect", "done", "anything", "else", "nothing", "lovely", "wonderful", "appreciate", "helpful"),
        *(
            "고마워",
            "고마워요",
            "고맙습니다",
            "감사",
            "감사해요",
            "감사합니다",
            "땡큐",
            "안녕",
            "안녕하세요",
            "반가워요",
        ),
        *("반가워", "잘", "있어요", "가요", "됐어요", "됐어", "괜찮아요", "괜찮아", "네", "응", "그래", "알겠어요"),
        *("알겠어", "좋아요", "좋아", "오늘", "날씨", "어때", "어때요", "어떄", "누구", "누구야", "누구세요", "뭐야"),
        *("뭐예요", "뭐하는", "하는", "거야", "너는", "넌", "당신은", "이름이", "이름", "수고", "수고하세요", "그럼"),
        *(
            "이만",
            "다음에",
            "다음",
            "올게요",
            "올게",
            "또",
            "봐요",
            "봐",
            "끝",
            "이게",
            "어떻게",
            "작동해",
            "작동해요",
            "쓰는",
            "법",
            "도움",
        ),
        *("됐습니다", "충분해요", "충분해", "정말", "진짜", "너무", "많이", "최고", "최고야", "좋네요", "좋다"),
        *("잘가", "잘가요", "바이", "하이", "헬로", "ㅎㅎ", "ㅋㅋ", "굿", "굿굿"),
        # Talk about the bot itself, pleasantries and laughter.
        *(
            "re",
            "ll",
            "ve",
            "d",
            "m",
            "t",
            "great",
            "joke",
            "jokes",
            "time",
            "made",
            "built",
            "robot",
            "human",
            "real",
            "meet",
            "tomorrow",
            "lol",
        ),
        *("haha", "hahaha", "lmao", "never", "mind", "languages", "language", "speak", "talk", "english"),
        *("funny", "smart", "kind", "tonight's", "morning's", "fun", "chat", "chatting", "bored", "hmm"),
        *("반갑습니다", "반가워요", "잘자", "잘자요", "자", "자요", "수고했어", "수고했어요", "로봇", "로봇이야"),
        *("알았어", "알았어요", "아니", "아니요", "괜찮", "한국어", "영어", "할", "줄", "알아", "알아요", "하루"),
        *(
            "보내세요",
            "좋은",
            "재밌다",
            "재밌어",
            "농담",
            "심심해",
            "챗봇",
            "사람",
            "사람이야",
            "내일",
            "봐요",
            "ㅋㅋㅋ",
        ),
        # The customer's own account, the service, the weather, a meal or a visit already had.
        *("budget", "left", "month", "change", "settings", "setting", "profile", "data", "delete", "account", "spent"),
        *("rain", "raining", "tomorrow", "yesterday", "going", "earlier", "saying", "delicious", "went", "privacy"),
        *(
            "내",
            "예산",
            "얼마",
            "남았어",
            "남았어요",
            "정보",
            "설정",
            "바꾸고",
            "싶어요",
            "삭제",
            "삭제해줘",
            "이번",
            "달",
        ),
        *(
            "썼어",
            "썼어요",
            "앱",
            "써요",
            "비",
            "와",
            "와요",
            "어제",
            "거기",
            "갔는데",
            "좋았어요",
            "좋았어",
            "맛있었어요",
        ),
        *("맛있었어", "감사해요", "그냥", "인사", "왔어요", "먹었습니다", "먹었어요", "잘먹었습니다"),
        # Pronouns and questions about the service itself.
        *("이", "그", "저", "너", "나", "서비스", "거예요", "거에요", "사용", "사용법", "방법", "질문", "궁금해"),
        *("궁금해요", "물어볼게", "물어볼게요", "어떻게", "쓰는", "써", "you're", "youre", "u", "ur", "bye-bye"),
        *("tips", "tip"),
    )
)
# A request: a verb of asking, or a question word that looks for something.
_ASKING = re.compile(
    r"recommend|suggest|\bfind\b|looking\s+for|\bwant\b|\bwhere\b|what\s+should|any\s+(?:ideas|suggestions)|"
    r"\bplace\b|\bplaces\b|somewhere|something|\bfood\b|음식|\beat\b|\bgo\b|\bvisit\b|\bdinner\b|\blunch\b|\bbreakfast\b|"
    r"\b(?:things?|anything|something|stuff|what)\s+(?:fun\s+)?to\s+(?:do|see|visit)\b|"
    r"추천|어디|먹(?!었)|가고|(?:갈|가\s*볼|볼|놀)\s*만|할\s*만|(?:할|갈|볼|놀|살)\s*수\s*있는\s*(?:거|것|곳|데)|(?:할|갈|놀|볼)\s*(?:거|것|곳|데)|갈까|할까|없을까|있을까|있나요|있나|없나|알려|찾아|찾고|뭐\s*하|뭘\s*하|골라|저녁|점심|아침"
)
_NON_FOOD = re.compile(
    r"(?:(?<!\bcan\s)(?<!\bdo\s)(?<!\bcould\s)(?<!\bmust\s)\bnot|\bno|\bwithout|\bskip|\binstead\s+of|\brather\s+than|\bother\s+than|\banything\s+but)\s+"
    r"(?:(?:a|an|any|the|looking\s+to|going\s+to|to|looking\s+for|after|in\s+the\s+mood\s+for|interested\s+in)\s+)?"
    r"(?:food|restaurants?|eat|eating|dining|meals?|eatery)\b|"
    r"\bnon-?food\b|(?:don'?t|do\s+not|won'?t)\s+(?:want|need)\s+to\s+eat\b|"
    r"(?:(?:don'?t|do\s+not)\s+(?:want|need)|no\s+need\s+for)\s+(?:any\s+|a\s+)?(?:food|restaurants?|meal)\b|"
    r"\balready\s+(?:ate|eaten|had\s+(?:lunch|dinner|a\s+meal))\b|\b(?:ate|eaten)\s+already\b|\bi'?m\s+full\b|"
    r"(?<![\uac00-\ud7a3])(?:음식점|음식|먹는\s*(?:거|것|곳|건|데)|먹을\s*(?:거|것|건|데)|먹거리|밥집|밥|식당|맛집|식사|레스토랑)\s*"
    r"(?:은|는|이|가)?\s*"
    r"(?:말고|빼고|말구|아니고|아닌|제외|됐고|됐어|필요\s*없)|"
    r"(?:밥|식사|점심|저녁)\s*(?:은|는|을|를)?\s*(?:이미\s*|벌써\s*)?먹었(?:어|고|는데|음|습니다)|배불러|배부른데|배불러서"
)
# Words that ask for a kind without food ("activity only", "놀 거리", "볼거리", "장소만"): they state it unless the
# message also asks for something to eat ("볼거리 많은 시장에서 먹을 거").
_FOOD_ONLY = re.compile(
    r"\bfood\s+only\b|\b(?:only|just)\s+(?:food|restaurants|dishes)\b|"
    r"\bnot\s+(?:an?\s+)?(?:activit(?:y|ies)|place\s+to\s+go)\b|\bno\s+activities\b|"
    r"음식만|먹을\s*(?:거|것)만|식당만|맛집만|(?:놀\s*거리|볼\s*거리|활동|체험|액티비티)\s*(?:는|은)?\s*(?:말고|빼고|아니고)"
)
# A word that asks for the mild side: it rules spicy out.
_MILD = re.compile(r"\bmild\b|순한\s*맛|순한|순하게")
# A word ruled out as itself when no code or listed tag covers it: a Korean noun right before 빼고, 말고, 제외,
# 없이, 없는, 안 들어간 ("김치 빼고"), an English one after "no", "without", "except", "skip the", "hold the".
_KO_ITSELF_CUE = re.compile(
    r"\s*(?:빼|말고|제외|없이|없는|안\s*들어|들어가지\s*않|넣지\s*말|싫어|못\s*먹(?!었)|안\s*먹(?!었))"
)
_KO_ITSELF = re.compile(r"(?<![\w])([\uac00-\ud7a3]{2,})(?=" + _KO_ITSELF_CUE.pattern + ")")
_EN_ITSELF = re.compile(
    r"\b(?:no|without|except|excluding|skip\s+the|hold\s+the|avoid|hate|dislike|don'?t\s+like)\s+([a-z][a-z-]{2,})\b"
    r"(?!\s+(?:than|more|longer))"
)
_NOT_ITSELF = frozenset(
    (
        *("problem", "problems", "worries", "worry", "idea", "thanks", "rush", "preference", "need", "matter", "way"),
        *("one", "more", "less", "longer", "pressure", "plans", "plan", "clue", "big", "doubt", "limit", "budget"),
        *("hurry", "time", "reason", "offense", "kidding", "joke", "and", "the", "please", "any", "kind", "other"),
        *("food", "restaurant", "restaurants", "activity", "activities", "eating", "eat", "place", "places", "fuss"),
        *("다른", "이거", "그거", "저거", "음식", "식당", "맛집", "먹는", "먹을", "오늘", "이번", "그냥", "아무거나"),
    )
)
_NON_FOOD_ONLY = re.compile(
    r"\b(?:activit(?:y|ies)|places?|things\s+to\s+do)\s+only\b|\bonly\s+(?:activit(?:y|ies)|places?)\b|"
    r"놀\s*거리|볼\s*거리|장소만|구경\s*할\s*(?:곳|데|만한)|할\s*거리|\bnot\s+hungry\b|배\s*(?:안|않)\s*고파|"
    r"배고프지\s*않|\b(?:just\s+(?:a\s+)?gifts?|gifts?\s+only|only\s+(?:a\s+)?gifts?)\b|선물만|기념품만"
)
# Words that ask for something other than food without stating a kind ("somewhere to walk", "a gift", "체험"): the
# turn ranks that kind alone (`StatedRequest.looks_for`) unless the message also asks for food; the session keeps
# nothing of it.
_NON_FOOD_HINT = re.compile(
    r"\b(?:walk|walks|walking|stroll|strolling|hike|hikes|hiking|sightseeing)\b|산책|걷기|걸을|하이킹|등산|"
    r"\b(?:(?:some)?things?|anything|stuff)\s+(?:fun\s+)?to\s+(?:do|see)\b|\bfun\s+to\s+do\b|\bsights\b|"
    r"놀\s*(?:곳|데|만한)|(?<![\uac00-\ud7a3])(?:갈|볼|가\s*볼)\s*만한|(?<![\uac00-\ud7a3])(?:갈|가\s*볼)\s*(?:곳|데)|놀러|나들이|구경|관광|체험|액티비티|활동|(?<![\uac00-\ud7a3])할\s*만한|"
    r"\bactivit(?:y|ies)\b|\bgifts?\b|\bsouvenirs?\b|\bpresents?\s+for\b|\bto\s+buy\b|\bshopping\b|"
    r"선물|기념품|(?:살|사\s*갈)\s*(?:거|것|만한)|뭐\s*사지|살까"
)
_PRODUCT_WORD = re.compile(
    r"\bgifts?\b|\bsouvenirs?\b|\bpresents?\s+for\b|\bto\s+buy\b|\bshopping\b|선물|기념품|(?:살|사\s*갈)\s*(?:거|것|만한)|"
    r"뭐\s*사지|살까"
)
_PLACE_WORD = re.compile(r"\bplaces?\b|장소")
_ACTIVITY_WORD = re.compile(r"\bactivit(?:y|ies)\b|체험|액티비티|클래스|\bclass(?:es)?\b|활동")
_FOOD_ASKED = re.compile(
    r"\beat\b|\beating\b|\bfood\b|\brestaurants?\b|\bdinner\b|\blunch\b|\bbreakfast\b|\bsnacks?\b|"
    r"\b(?:cafes?|coffee|desserts?|bakery|brunch|drinks?)\b|먹|음식|식당|맛집|밥|저녁|점심|아침|간식|카페|커피|디저트|빵|브런치"
)
# A request for something to eat: the turn ranks restaurants and dishes alone (`StatedRequest.food`). 저녁 and 아침
# are also the evening and the morning ("저녁에 산책"): they count only as a meal.
_MEAL = re.compile(
    r"\b(?:eat|eating|hungry|lunch|dinner|breakfast|brunch|meal|bite|supper)\b|먹(?!었)|점심|식사|밥|맛집|식당|배고|야식|"
    r"(?:저녁|아침)\s*(?:으로|메뉴|식사|뭐|추천|거리|은|는|있을|있나|없을|없나|어디|$|\?)"
)
_NOT_A_MEAL = re.compile(
    r"\btours?\b|\bclass(?:es)?\b|\bmarkets?\b|투어|클래스|시장|체험|\bactivit(?:y|ies)\b|"
    r"먹었|\bate\b|\beaten\b|\bhad\s+(?:lunch|dinner|breakfast)\b"  # a meal had is no meal asked for
)
MEAL_KINDS = ("restaurant", "dish")
# Talk about the service's languages ("do you speak Korean?"): a language named there is no cuisine asked for.
_LANGUAGE_TALK = re.compile(
    r"\b(?:speak|speaks|speaking|understand|talk\s+in|reply\s+in|write\s+in)\s+(?:korean|english|japanese|chinese)\b|"
    r"한국어|영어|일본어|중국어"
)
# A Korean word in a polite or exclaiming ending ("재밌네요", "물어볼게요", "감사합니다"): a remark, no name.
_REMARK_ENDING = re.compile(r"[\uac00-\ud7a3](?:네요|군요|구나|게요|습니다|어요|아요|예요|에요|해요|세요|을게|ㄹ게)$")
_WORD = re.compile(r"[\w']+")
_LETTER = re.compile(r"[a-z0-9\uac00-\ud7a3]")  # a word of jamo alone (ㅎㅎ, ㅋㅋ) is laughter
_SENTENCE_END = re.compile(r"[.!?;\n\u3002\uff01\uff1f]+")


def read(text: str) -> StatedRequest:
    """What `text` states (allergen and diet codes, excluded tags, a price cap, kinds), whether it asks for
    anything, and the text left to search (every statement and amount taken out)."""
    folded = unicodedata.normalize("NFKC", text).casefold().replace("\u2019", "'")
    allergens: dict[str, None] = {}
    diets: dict[str, None] = {}
    tags: dict[str, None] = {}
    spans: list[tuple[int, int]] = []
    for start, end in _clauses(folded):
        clause = folded[start:end]
        if _NOT_ME.search(_sentence_of(folded, start, end)):
            continue
        for mention in _stated_mentions(clause):
            codes, diet_codes, tag_list = mention.meaning
            allergens.update(dict.fromkeys(codes))
            diets.update(dict.fromkeys(diet_codes))
            tags.update(dict.fromkeys(tag_list))
            spans.append((start + mention.cue_start, start + mention.cue_end))
    cap, price_spans = _price_cap(folded)
    spans += price_spans
    if cap is not None:  # "1인당 2만원", "per person": how the cap counts, not a search word
        spans += [match.span() for match in _PER_PERSON.finditer(folded)]
    kinds: tuple[str, ...] = ()
    if match := _NON_FOOD.search(folded):
        kinds = _non_food_kinds(folded)
        spans.append(match.span())
    elif match := _FOOD_ONLY.search(folded):
        kinds = FOOD_KINDS
        spans.append(match.span())
    elif (match := _NON_FOOD_ONLY.search(folded)) and not _FOOD_ASKED.search(folded):
        kinds = _non_food_kinds(folded)
    if match := _MILD.search(folded):
        tags.update(dict.fromkeys(_TAG_WORDS["spicy"]))
        spans.append(match.span())
    for word, span in _words_ruled_out(folded, spans):
        tags[word] = None
        spans.append(span)
    spans += [match.span() for match in _LANGUAGE_TALK.finditer(folded)]
    query = _without(folded, spans)
    words = [
        word
        for word in search_terms([query])
        if word not in _SMALL_TALK and _LETTER.search(word) and not _REMARK_ENDING.search(word)
    ]
    # A cap may carry the asking ("7천원으로 먹을 수 있는 거"): its words count as asking though they leave the search.
    explicit = bool(_ASKING.search(query)) or any(_ASKING.search(folded, start, end) for start, end in price_spans)
    looks_for: tuple[str, ...] = ()  # none when kinds are stated: those bind already
    hint = not kinds and _NON_FOOD_HINT.search(folded)
    if hint and not _FOOD_ASKED.search(folded):
        looks_for = _non_food_kinds(folded)
    elif not kinds and not hint and _MEAL.search(folded) and not _NOT_A_MEAL.search(folded):
        looks_for = MEAL_KINDS
    return StatedRequest(
        constraints=Constraints(
            allergens=tuple(code for code in vocabulary.ALLERGENS if code in allergens),
            diets=tuple(code for code in vocabulary.DIETS if code in diets),
            max_price=cap,
            exclude_tags=tuple(tags),
            kinds=kinds,
        ),
        # A kind stated, or a cap with a kind looked for, asks even in no other words ("activity only", "under 10k,
        # a quick bite").
        asks=bool(words) or explicit or bool(kinds) or (cap is not None and bool(looks_for)),
        query=" ".join(query.split()),
        explicit=explicit,
        looks_for=looks_for,
    )


def allergens_named(words: Iterable[str]) -> tuple[str, ...]:
    """The allergen codes that search words name, each word as itself ("삼겹살" is pork, "peanut" peanut): what a
    request asks for by name, not what it states."""
    found: dict[str, None] = {}
    for word in words:
        meaning = _lookup(word)
        if meaning is not None:
            found.update(dict.fromkeys(meaning[0]))
    return tuple(found)


def _non_food_kinds(text: str) -> tuple[str, ...]:
    """The kinds a message that rules food out asks for: a thing to buy ("a gift, not food", "선물만"), a place
    ("just a place, not food", "장소"), an activity ("an activity", "체험"), or either of the last two when it names
    neither or both."""
    if _PRODUCT_WORD.search(text):
        return ("product",)
    place, activity = bool(_PLACE_WORD.search(text)), bool(_ACTIVITY_WORD.search(text))
    if place != activity:
        return ("place",) if place else ("activity",)
    return NON_FOOD_KINDS


def tighten(base: Constraints, more: Constraints) -> Constraints:
    """`base` with the rules of `more` added: codes and tags united, the lower cap kept; kinds are what is asked
    for, so stated kinds replace the earlier ones. Nothing is ever loosened but kinds."""
    return Constraints(
        allergens=tuple(code for code in vocabulary.ALLERGENS if code in {*base.allergens, *more.allergens}),
        diets=tuple(code for code in vocabulary.DIETS if code in {*base.diets, *more.diets}),
        max_price=min((cap for cap in (base.max_price, more.max_price) if cap is not None), default=None),
        exclude_tags=tuple(dict.fromkeys((*base.exclude_tags, *more.exclude_tags))),
        kinds=more.kinds or base.kinds,
    )


# --- statements -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Mention:
    start: int
    end: int
    meaning: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]  # allergen codes, diet codes, tags
    diet: bool
    cue_start: int = 0  # the span of the statement, cue included (taken out of the search text)
    cue_end: int = 0


def _sentence_of(text: str, start: int, end: int) -> str:
    """The sentence around text[start:end]: where the speaker says they are not the one concerned."""
    before = max((m.end() for m in _SENTENCE_END.finditer(text, 0, start)), default=0)
    after = _SENTENCE_END.search(text, end)
    return text[before : after.start() if after else len(text)]


def _clauses(text: str) -> Iterable[tuple[int, int]]:
    start = 0
    for match in _CLAUSES.finditer(text):
        yield start, match.start()
        start = match.end()
    yield start, len(text)


def _normalized(table: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """`table` keyed as the vocabulary's terms are matched ("raw fish" -> "rawfish")."""
    return {vocabulary.normalize_term(word): meaning for word, meaning in table.items()}


_DIET_KEYS = _normalized(_EXTRA_DIET_WORDS)
_ALLERGEN_KEYS = _normalized(_EXTRA_ALLERGEN_WORDS)
_TAG_KEYS = _normalized(_TAG_WORDS)
_CONDITION_KEYS = _normalized(_CONDITION_WORDS)


def _lookup(word: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]] | None:
    key = vocabulary.normalize_term(word)
    if key in _DIET_KEYS:
        return (), _DIET_KEYS[key], ()
    if key in _CONDITION_KEYS:
        return _CONDITION_KEYS[key], (), ()
    if key in vocabulary.DIET_TERMS:
        return (), vocabulary.DIET_TERMS[key], ()
    if key in vocabulary.ALLERGEN_TERMS:
        return vocabulary.ALLERGEN_TERMS[key], (), ()
    if key in _ALLERGEN_KEYS:
        return _ALLERGEN_KEYS[key], (), ()
    if key in _TAG_KEYS:
        return (), (), _TAG_KEYS[key]
    return None


_PARTICLES = (
    "이랑",
    "에는",
    "에서",
    "으로",
    "이나",
    "하고",
    "까지",
    "은",
    "는",
    "이",
    "가",
    "을",
    "를",
    "도",
    "만",
    "랑",
)
_PARTICLES += ("과", "와", "나", "로", "에", "류", "의", "이에요", "예요", "에요", "입니다", "이야", "야")
# A word said of the speaker ("비건이라서", "채식해요").
_PARTICLES += ("이라서", "라서", "이라", "이거든요", "이고", "인데", "이니까", "해요", "합니다", "중이에요", "중")
_KO_SUFFIXES = ("알레르기", "알러지", "류")


def _mentions(clause: str) -> list[_Mention]:
    """The vocabulary words of `clause`, longest first where they overlap (up to three words: "tree nut", "gluten
    free", "plant based"); Korean words with their particles or 알레르기 attached ("새우알레르기", "견과류는")."""
    words = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(clause)]
    found: list[_Mention] = []
    i = 0
    while i < len(words):
        taken = 0
        for size in (3, 2, 1):
            if i + size > len(words):
                continue
            start, end = words[i][0], words[i + size - 1][1]
            meaning = _lookup(clause[start:end])
            if meaning is None and size == 1:
                meaning, end = _korean_word(words[i][2], start, end)
            if meaning is not None:
                found.append(_Mention(start, end, meaning, diet=bool(meaning[1])))
                taken = size
                break
        i += taken or 1
    return found


def _korean_word(word: str, start: int, end: int):
    """A Korean word that is a vocabulary word with a particle or a suffix attached: its meaning and the end of the
    vocabulary word in the clause (so that the suffix still reads as a cue), or (None, end)."""
    if not HANGUL.match(word):
        return None, end
    for suffix in _KO_SUFFIXES + _PARTICLES:
        if word.endswith(suffix) and len(word) > len(suffix):
            stem = word[: -len(suffix)]
            if (meaning := _lookup(stem)) is not None:
                return meaning, start + len(stem)
            for inner in _KO_SUFFIXES:  # 견과류는, 새우알레르기가
                core = stem[: -len(inner)] if stem.endswith(inner) else ""
                if core and (meaning := _lookup(core)) is not None:
                    return meaning, start + len(core)
    # A compound led by a word of two or more syllables: 새우튀김 빼고, 돼지고기김치찌개 말고.
    for size in range(len(word) - 1, 1, -1):
        if (meaning := _lookup(word[:size])) is not None and (meaning[0] or meaning[2]):
            return meaning, end
    return None, end


def _stated_mentions(clause: str) -> list[_Mention]:
    """The mentions of `clause` in a statement form, each with the span of its statement."""
    mentions = _mentions(clause)
    stated: list[_Mention | None] = [None] * len(mentions)
    # Left to right: a cue before the word, or a stated word before it joined by "and", "or", a comma.
    for i, mention in enumerate(mentions):
        before = clause[mentions[i - 1].end if i else 0 : mention.start]
        if vocabulary.normalize_term(clause[mention.start : mention.end]) in _CONDITION_KEYS:
            if not _NOT_DIET.search(before):
                self_before = _SELF_DIET_BEFORE.search(clause, 0, mention.start)
                stated[i] = _with_cue(mention, self_before.start() if self_before else mention.start, mention.end)
            continue
        if mention.diet:  # positive: it stays a search word too ("vegan lunch" looks for vegan items)
            if not _NOT_DIET.search(before) and not _NOT_DIET_KO.match(clause[mention.end :]):
                self_before = _SELF_DIET_BEFORE.search(clause, 0, mention.start)
                self_after = _SELF_DIET_AFTER_KO.match(clause[mention.end :])
                if self_before or self_after:
                    start = self_before.start() if self_before else mention.start
                    stated[i] = _with_cue(mention, start, mention.end + (self_after.end() if self_after else 0))
                else:
                    stated[i] = _with_cue(mention, mention.start, mention.start)
            continue
        cue = _NEG_BEFORE.search(before) or _NEG_BEFORE_KO.search(before)
        if cue:
            stated[i] = _with_cue(mention, (mentions[i - 1].end if i else 0) + cue.start(), mention.end)
        elif i and stated[i - 1] is not None and not mentions[i - 1].diet and _JOINER.match(before):
            stated[i] = _with_cue(mention, mentions[i - 1].end, mention.end)
    # Right to left: a cue after the word (Korean, "-free", "allergy"), or a stated word after it, joined.
    for i in range(len(mentions) - 1, -1, -1):
        mention = mentions[i]
        if mention.diet:
            continue
        after_end = mentions[i + 1].start if i + 1 < len(mentions) else len(clause)
        after = clause[mention.end : after_end]
        cue = _NEG_AFTER_KO.match(after) or _NEG_AFTER_EN.match(after)
        if cue:
            end = mention.end + _cue_end(after, cue.end())
            previous = stated[i]
            stated[i] = _with_cue(mention, previous.cue_start if previous else mention.start, end)
        elif (
            stated[i] is None
            and i + 1 < len(mentions)
            and stated[i + 1] is not None
            and not mentions[i + 1].diet
            and _JOINER.match(after)
        ):
            stated[i] = _with_cue(mention, mention.start, mention.end)
    return [mention for mention in stated if mention is not None]


def _cue_end(after: str, end: int) -> int:
    """Where a cue after a word ends: the rest of its Korean word ("빼고", "알레르기가", "못 먹어요")."""
    while end < len(after) and not after[end].isspace() and after[end] not in ",.!?":
        end += 1
    rest = after[end:]
    verb = re.match(
        r"\s*(?:(?:있|드려|해요|해서|주세요|줘|돼|나요|나서|생겨|생기)[\uac00-\ud7a3]*|먹어요|먹어|먹습니다)", rest
    )
    return end + (verb.end() if verb else 0)


def _with_cue(mention: _Mention, cue_start: int, cue_end: int) -> _Mention:
    return _Mention(mention.start, mention.end, mention.meaning, mention.diet, cue_start, cue_end)


def _words_ruled_out(text: str, spans: list[tuple[int, int]]) -> Iterable[tuple[str, tuple[int, int]]]:
    """The words `text` rules out as themselves (outside the statements already read), each with its span."""
    taken = [range(start, end) for start, end in spans]
    for pattern in (_KO_ITSELF, _EN_ITSELF):
        for match in pattern.finditer(text):
            word = _particle_free(match.group(1))
            if word in _NOT_ITSELF or _lookup(word) is not None or any(match.start(1) in span for span in taken):
                continue
            if _NOT_ME.search(_sentence_of(text, match.start(), match.end())):
                continue
            if pattern is _EN_ITSELF:  # the cue goes with the word: "no", "hate"
                yield word, (match.start(), match.end(1))
            else:  # and the rest of the Korean cue: "싫어해요", "못 먹어요"
                after = text[match.end(1) :]
                cue = _KO_ITSELF_CUE.match(after)
                yield word, (match.start(1), match.end(1) + _cue_end(after, cue.end() if cue else 0))


def _particle_free(word: str) -> str:
    for particle in _PARTICLES:
        if HANGUL.match(word) and word.endswith(particle) and len(word) - len(particle) >= 2:
            return word[: -len(particle)]
    return word


# --- price caps -----------------------------------------------------------------------------------------------------


def _price_cap(text: str) -> tuple[int | None, list[tuple[int, int]]]:
    """The lowest price cap `text` states, and the spans of the amounts stated as caps."""
    caps: list[int] = []
    spans: list[tuple[int, int]] = []
    for match in _KO_AMOUNT.finditer(text):
        raw, won, band = match.group(1), match.group(2), match.group(3)
        korean_units = bool(re.search(r"[만천백]", raw))
        if not (korean_units or won):
            continue
        value = _korean_number(raw)
        if value is None or value <= 0:
            continue
        before, after = text[: match.start()], text[match.end() :]
        part = _BAND_PART.match(after)
        # 2만원대: from 20,000 up to below 30,000; its early part (초반, 초반대) to 23,000, its middle to 26,000.
        if band or part:
            step = 10 ** (len(str(value)) - len(str(value).rstrip("0")))
            tenths = _BAND_PARTS.get(part.group(1)) if part else None
            caps.append(value + step * tenths // 10 if tenths else value + step - 1)
            if part:
                spans.append((match.end(), match.end() + part.end()))
        elif bills := _KO_BILLS.match(after):
            caps.append(value * " 한두세".index(bills.group(1)))
            spans.append((match.end(), match.end() + bills.end()))
        elif cap := (_KO_CAP_AFTER.match(after) or _KO_CAP_OVER.match(after)):
            caps.append(value - 1 if _KO_BELOW.search(cap.group()) else value)
            spans.append((match.end(), match.end() + cap.end()))
        elif cue := (_KO_CAP_BEFORE.search(before) or _EN_CAP_BEFORE.search(before)):
            caps.append(value - 1 if _EN_BELOW.search(cue.group()) else value)  # "under 5만원": below it
            spans.append((cue.start(), match.start()))
            after_cue = re.match(r"\s*(?:으로|로)", after)
            spans.append((match.end(), match.end() + (after_cue.end() if after_cue else 0)))
        elif (_KO_PRICE_OF.match(after) or _KO_MEAL_BEFORE.search(before)) and not _RANGE_ON.match(after):
            caps.append(value)  # the price of what is asked for ("2만원 코스", "저녁 2만원"): nothing dearer
        elif not _RANGE_ON.match(after):
            continue  # the lower end of a range leaves the search too; its upper end binds
        spans.append(match.span())
    for match in _EN_AMOUNT.finditer(text):
        value = _number(match.group(1))
        if value is None:
            continue
        if match.group(2):
            value *= 1000
        value = int(value)
        before, after = text[: match.start()], text[match.end() :]
        if _NOT_MONEY.match(after) or not (match.group(2) or value >= 1000 or _CURRENCY.search(match.group())):
            continue  # a count, a distance or a time; or a small bare number, never a price in won
        cue = _EN_CAP_BEFORE.search(before) or (
            (match.group(2) or _CURRENCY.search(match.group())) and _EN_RANGE_BEFORE.search(before)
        )
        if cue:
            caps.append(value - 1 if _EN_BELOW.search(cue.group()) else value)
            spans.append((cue.start(), match.end()))
        elif cue := (_EN_CAP_AFTER.match(after) or (value >= 1000 and _KO_CAP_AFTER.match(after))):
            caps.append(value)
            spans.append((match.start(), match.end() + cue.end()))
        elif (cue := _EN_PRICE_FOR.search(before)) and not _RANGE_ON.match(after):
            caps.append(value)  # the price of what is asked for ("lunch for 10k"): nothing dearer
            spans.append((cue.start(), match.end()))
        elif _EN_PRICE_OF.match(after):
            caps.append(value)  # the price of what is asked for ("a 10k lunch"): nothing dearer
            spans.append(match.span())
    for match in (*_FREE_EN.finditer(text), *_FREE_KO.finditer(text)):
        if not _freed_word(text[: match.start()]):
            caps.append(0)
            spans.append(match.span())
    return (min(caps) if caps else None), spans


def _freed_word(before: str) -> bool:
    """Whether "free" follows a word it frees of ("gluten free places", "sugar free", "duty free"): no price then."""
    word = re.search(r"([a-z]+)[\s-]*$", before)
    return bool(word) and (word.group(1) in _NOT_FREEING or _lookup(word.group(1)) is not None)


def _number(raw: str) -> float | None:
    if raw[0].isalpha():  # "twenty-five", "a hundred and twenty": tens and units add, "hundred" multiplies
        total = 0
        for word in re.split(r"[\s-]+", raw):
            total = total * 100 if word == "hundred" else total + _EN_NUMBER_WORDS[word]
        return float(total)
    if _DOT_THOUSANDS.fullmatch(raw):  # "10.000 won": dots that group thousands
        raw = raw.replace(".", "")
    try:
        return float(raw.replace(",", ""))
    except ValueError:
        return None


def _korean_number(raw: str) -> int | None:
    """오천 -> 5000, 만 -> 10000, 1만 5천 -> 15000, 1.5만 -> 15000, 2만 -> 20000, 15,000 -> 15000."""
    text = raw.replace(" ", "").replace(",", "")
    total, section, current = 0.0, 0.0, None
    for token in re.findall(r"\d+(?:\.\d+)?|[일이삼사오육칠팔구십백천만]", text):
        if token[0].isdigit():
            current = float(token)
        elif token in _KO_DIGITS:
            current = float(_KO_DIGITS[token])
        elif token in _KO_UNITS:
            section += (1 if current is None else current) * _KO_UNITS[token]
            current = None
        else:  # 만
            total += (section + (current or 0) or 1) * 10_000
            section, current = 0.0, None
    total += section + (current or 0)
    return round(total) if total else None


def _without(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` with `spans` blanked out."""
    chars = list(text)
    for start, end in spans:
        for i in range(max(0, start), min(len(chars), end)):
            chars[i] = " "
    return "".join(chars)
