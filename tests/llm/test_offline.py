"""The offline provider: deterministic answers from the customer's context, with no network."""

import asyncio
from dataclasses import replace

import pytest

from llm import offline, prompts, tokens
from llm.answers import Answer
from llm.data import Constraints
from llm.providers import ModelRequest, OfflineInput, get_provider
from tests.llm.contexts import ALICE_CANDIDATES, alice, bob, candidate
from tests.llm.support import Grounded


def _reply_request(text: str, *, context=None, mood: str = "") -> ModelRequest:
    context = context or alice()
    messages = (
        {"role": "system", "content": prompts.system_prompt(context)},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi!"},
        {"role": "user", "content": text},
    )
    return ModelRequest(
        messages=messages, purpose="reply", max_tokens=300, offline=OfflineInput(context=context, mood=mood)
    )


@pytest.fixture
def provider():
    """The provider the settings pick without a key or a base URL (the test settings set neither), called as a turn
    calls it."""
    return Grounded(get_provider())


def test_without_key_or_base_url_the_offline_provider_answers():
    assert isinstance(get_provider(), offline.OfflineProvider)
    assert get_provider().name == "offline"


def test_the_same_request_gets_the_same_answer(provider):
    request = _reply_request("What should I eat tonight?")
    assert provider.complete(request) == provider.complete(request)


def _with(context, **fields):
    return replace(context, **fields)


def test_a_reply_recommends_the_top_candidates_as_cards_in_the_customers_language(provider):
    context = _with(alice(), candidates=ALICE_CANDIDATES)
    completion = provider.complete(_reply_request("What should I eat tonight?", context=context))
    assert completion.text.startswith("Alice Kim님, 안녕하세요!")  # alice prefers Korean
    assert [card.item.external_id for card in completion.cards] == ["mapo-tteok", "mapo-jjukkumi", "mapo-trail"]
    for card in completion.cards:
        assert card.item.name in completion.text
        assert card.checks.allergens == ("peanut",)
        assert card.checks.budget_remaining == 380_000
    assert completion.cards[2].checks.diets == ()  # an activity: no diet rule applies
    assert "Hapjeong Spicy Ramen" not in completion.text  # beyond RECOMMENDATIONS_MAX
    assert "380,000 KRW" in completion.text
    assert completion.finish_reason == "stop"
    assert completion.mood is None


def test_the_offline_cards_pass_the_same_checks_as_a_models(provider):
    # Candidates normally meet the rules already; should one not, the offline provider's proposal is dropped too.
    risky = candidate("mapo-satay", "Peanut Satay Bar", allergens=("peanut",))
    context = _with(alice(), candidates=(risky, *ALICE_CANDIDATES[:1]))
    completion = provider.complete(_reply_request("Dinner?", context=context))
    assert [card.item.external_id for card in completion.cards] == ["mapo-tteok"]
    assert "Peanut Satay" not in completion.text


def test_nothing_fitting_is_said_plainly_with_the_rules_that_ruled_it_out(provider):
    vegan_bob = _with(bob(), customer=replace(bob().customer, diets=("vegan",)))
    completion = provider.complete(_reply_request("Dinner?", context=vegan_bob))
    assert completion.cards == ()
    assert (
        "Nothing I may recommend fits your rules right now (no crustacean, mollusc; vegan; "
        "your remaining budget of 20,000 KRW)." in completion.text
    )
    capped = _with(alice(), constraints=Constraints(max_price=5000, exclude_tags=("spicy",)))
    korean = provider.complete(_reply_request("저녁?", context=capped)).text
    assert (
        "지금은 조건에 맞는 추천이 없어요 (조건: peanut 제외; 5,000 KRW 이하; spicy 빼고; 남은 예산 380,000 KRW)."
        in korean
    )
    below = _with(alice(), constraints=Constraints(max_price=4999))
    below_text = provider.complete(_reply_request("저녁?", context=below)).text
    assert "(조건: peanut 제외; 5,000 KRW 미만; 남은 예산 380,000 KRW)" in below_text


def test_a_message_that_asks_for_nothing_gets_no_card_and_no_nothing_fits(provider):
    thanks = _with(alice(), asks=False, candidates=())
    completion = provider.complete(_reply_request("고마워요!", context=thanks))
    assert completion.cards == ()
    assert "추천이 필요하시면 언제든 말씀해 주세요." in completion.text
    assert "없어요" not in completion.text


def test_what_the_message_stated_is_acknowledged_by_rule(provider):
    stated = Constraints(allergens=("crustacean",), max_price=9999)
    context = _with(bob(), stated=stated, constraints=stated)
    text = provider.complete(_reply_request("No shrimp, under 10,000 won", context=context)).text
    assert "Noted for this conversation: no crustacean; under 10,000 KRW." in text
    stated = Constraints(max_price=12500)
    context = _with(bob(), stated=stated, constraints=stated)
    text = provider.complete(_reply_request("12,500 won at most", context=context)).text
    assert "Noted for this conversation: at most 12,500 KRW." in text
    stated = Constraints(max_price=0)
    context = _with(bob(), stated=stated, constraints=stated)
    text = provider.complete(_reply_request("free things to do?", context=context)).text
    assert "Noted for this conversation: free." in text


@pytest.mark.parametrize("n", range(12))
def test_a_reply_never_suggests_a_preference_containing_an_allergy(provider, n):
    context = alice()
    risky = replace(
        context, customer=replace(context.customer, preferences=(*context.customer.preferences, "peanut noodles"))
    )
    text = provider.complete(_reply_request(f"Any idea number {n}?", context=risky)).text
    assert "peanut noodles" not in text


def test_a_reply_says_nothing_of_another_customer(provider):
    text = provider.complete(_reply_request("What should I eat tonight?")).text
    for fact in ("Bob", "Busan", "grilled meat", "crustacean", "20,000"):
        assert fact not in text


def test_the_request_is_never_quoted_back(provider):
    question = "Could you please recommend a really very nice place for dinner?"
    text = provider.complete(_reply_request(question)).text
    assert "recommend a really" not in text
    assert "nice place" not in text


@pytest.mark.parametrize(
    ("message", "mood"),
    [
        ("I'm so tired today", "tired"),
        ("오늘 너무 피곤해요", "tired"),
        ("Work is really stressful", "stressed"),
        ("스트레스 받아요", "stressed"),
        ("행복한 하루예요!", "happy"),
        ("I'm happy, what's good?", "happy"),
        ("I'm unhappy with my lunch", "sad"),
        ("Meet me downtown", None),
        ("What should I eat?", None),
    ],
)
def test_the_mood_is_inferred_from_keywords(provider, message, mood):
    assert offline.infer_mood(message) == mood
    assert provider.complete(_reply_request(message)).mood == mood


def test_the_sessions_mood_is_acknowledged_when_the_message_states_none(provider):
    text = provider.complete(_reply_request("What should I eat?", mood="tired")).text
    assert "피곤하시군요" in text
    text = provider.complete(_reply_request("What should I eat?", context=bob(), mood="tired")).text
    assert "Sorry you're tired" in text


def test_usage_is_counted_with_the_models_tokenizer(provider, settings):
    request = _reply_request("What should I eat tonight?")
    completion = provider.complete(request)
    assert completion.usage.prompt_tokens == tokens.count_request(request.messages, model=settings.LLM_MODEL)
    assert completion.usage.completion_tokens == tokens.count_text(completion.text, model=settings.LLM_MODEL)


def test_the_stream_yields_several_deltas_then_the_completion(provider):
    request = _reply_request("What should I eat tonight?")

    async def collect():
        return [item async for item in provider.astream(request)]

    items = asyncio.run(collect())
    *deltas, completion = items
    assert isinstance(completion, Answer)
    assert len(deltas) > 1
    assert all(isinstance(delta, str) for delta in deltas)
    assert "".join(deltas) == completion.text == provider.complete(request).text


TRANSCRIPT = (
    {"role": "user", "content": "I want something warm. Maybe soup?"},
    {"role": "assistant", "content": "How about kimchi jjigae?"},
    {"role": "user", "content": "피곤해요. 가까운 곳이면 좋겠어요."},
)


def test_fold_extends_the_previous_summary_with_each_customer_messages_first_sentence(provider):
    request = ModelRequest(
        messages=prompts.fold_messages(previous_summary="She likes spicy food.", transcript=TRANSCRIPT),
        purpose="fold",
        max_tokens=200,
        offline=OfflineInput(transcript=TRANSCRIPT, previous_summary="She likes spicy food."),
    )
    completion = provider.complete(request)
    assert completion.text == "She likes spicy food. The customer asked about: I want something warm; 피곤해요."
    assert completion.mood is None


def test_a_summary_stays_bounded_and_keeps_the_latest_part(provider):
    transcript = tuple({"role": "user", "content": f"Request number {i}. Details."} for i in range(200))
    messages = prompts.summary_messages(transcript=transcript)
    request = ModelRequest(
        messages=messages, purpose="summary", max_tokens=200, offline=OfflineInput(transcript=transcript)
    )
    text = provider.complete(request).text
    assert len(text) <= offline.MAX_SUMMARY_CHARS
    assert text.endswith("Request number 199.")


def test_bobs_reply_uses_his_own_facts(provider):
    context = _with(bob(), candidates=(candidate("busan-grill", "Haeundae Charcoal Grill", area="Busan, Haeundae-gu"),))
    text = provider.complete(_reply_request("Lunch?", context=context)).text
    assert text.startswith("Hi Bob Park!")
    assert "20,000 KRW" in text
    assert "Haeundae Charcoal Grill" in text
    assert "Alice" not in text
