"""The customer's rules in words: what a reply says when nothing may be recommended (the rules, never an item).
Pure; `money` formats an amount (llm.prompts.format_money)."""

from collections.abc import Callable

from llm.data import TurnContext

_DIET_WORDS = {"vegetarian": ("vegetarian", "채식"), "vegan": ("vegan", "비건"), "halal": ("halal", "할랄")}
_DIET_WORDS["gluten_free"] = ("gluten-free", "글루텐 프리")
_KIND_WORDS = {"restaurant": "식당", "dish": "요리", "product": "상품", "activity": "활동", "place": "장소"}


def diet_word(code: str, *, korean: bool) -> str:
    """A diet code in words, in English or Korean."""
    return _DIET_WORDS.get(code, (code, code))[int(korean)]


def _cap_words(cap: int, currency: str, *, korean: bool, money: Callable[[int, str], str]) -> str:
    """A price cap as the customer said it: 0 was "free", one short of a round amount was "under" it ("under
    10,000 won" binds at 9,999), any other is "at most"."""
    if cap == 0:
        return "무료" if korean else "free"
    if cap >= 999 and (cap + 1) % 1000 == 0:
        below = money(cap + 1, currency)
        return f"{below} 미만" if korean else f"under {below}"
    return f"{money(cap, currency)} 이하" if korean else f"at most {money(cap, currency)}"


def rules_named(context: TurnContext, *, money: Callable[[int, str], str], budget: bool = True) -> str:
    """The customer's rules in words (codes, caps, tags and kinds, never an item): what a reply says ruled
    everything out, with `budget` the remaining monthly limit last. In the customer's language."""
    rules, facts = context.rules(), context.customer
    korean = facts.korean
    remaining = money(facts.remaining_limit_minor, facts.currency)
    parts = []
    if rules.allergens:
        allergens = ", ".join(code.replace("_", " ") for code in rules.allergens)
        parts.append(f"{allergens} 제외" if korean else f"no {allergens}")
    if rules.diets:
        parts.append(" ".join(diet_word(code, korean=korean) for code in rules.diets))
    if rules.max_price is not None:
        parts.append(_cap_words(rules.max_price, facts.currency, korean=korean, money=money))
    if rules.exclude_tags:
        tags = ", ".join(rules.exclude_tags)
        parts.append(f"{tags} 빼고" if korean else f"not {tags}")
    if rules.kinds:
        kinds = ", ".join(_KIND_WORDS.get(kind, kind) if korean else kind for kind in rules.kinds)
        parts.append(f"{kinds}만" if korean else f"only {kinds}")
    if budget:
        parts.append(f"남은 예산 {remaining}" if korean else f"your remaining budget of {remaining}")
    return "; ".join(parts)


def nothing_fits(context: TurnContext, *, money: Callable[[int, str], str]) -> str:
    """The honest reply when nothing may be recommended: that nothing fits, and the rules that ruled it out."""
    if context.customer.korean:
        return f"지금은 조건에 맞는 추천이 없어요 (조건: {rules_named(context, money=money)})."
    return f"Nothing I may recommend fits your rules right now ({rules_named(context, money=money)})."
