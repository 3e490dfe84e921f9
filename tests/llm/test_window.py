"""The window: newest messages within the budget by their stored counts, exact at the boundary; when to fold."""

from dataclasses import replace
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from llm import prompts, tokens, window
from llm.conf import get_settings
from llm.data import Message, Mood, PastSummary
from llm.errors import MessageTooLong
from llm.store import RollingSummary
from tests.llm.contexts import alice


@pytest.fixture
def cfg():
    return replace(get_settings(), context_budget=1200, reply_reserve=200)


def _messages(*token_counts: int, first_seq: int = 1) -> tuple[Message, ...]:
    return tuple(
        Message(
            id=uuid4().hex,
            seq=first_seq + i,
            role="user" if i % 2 == 0 else "assistant",
            content=f"message {first_seq + i}",
            tokens=count,
            created_at=datetime.now(UTC),
        )
        for i, count in enumerate(token_counts)
    )


def _available(cfg, mood=None, summary="") -> int:
    """Tokens left beside the bare prompt (rules and facts: no candidates, ratings or past sessions)."""
    prompt = prompts.system_prompt(
        alice(), mood=mood, rolling_summary=summary, candidates=0, tastes=False, past=0, max_cards=3
    )
    return window.message_budget(cfg) - tokens.count_message("system", prompt, model=cfg.model)


def test_a_message_that_exactly_fits_is_accepted_and_one_token_more_is_refused_before_anything_else(cfg):
    budget = window.prompt(alice(), cfg).tail_budget(newest_tokens=_available(cfg))
    assert budget == _available(cfg)
    with pytest.raises(MessageTooLong) as refused:
        window.prompt(alice(), cfg).tail_budget(newest_tokens=_available(cfg) + 1)
    assert refused.value.code == "message_too_long"


def test_an_older_message_that_exactly_fits_is_in_the_window_and_one_token_more_is_not(cfg):
    available = _available(cfg)
    fits = window.prompt(alice(), cfg).assemble(mood=None, summary="", tail=_messages(100, available - 50, 50))
    assert [m.seq for m in fits.messages] == [2, 3]
    assert fits.prompt_tokens == window.message_budget(cfg) + tokens.REPLY_PRIMING
    over = window.prompt(alice(), cfg).assemble(mood=None, summary="", tail=_messages(100, available - 49, 50))
    assert [m.seq for m in over.messages] == [3]


def test_the_window_counts_the_request_as_billed():
    cfg = get_settings()
    tail = tuple(
        replace(m, tokens=tokens.count_message(m.role, m.content, model=cfg.model)) for m in _messages(0, 0, 0)
    )
    win = window.prompt(alice(), cfg).assemble(mood=None, summary="earlier: noodles", tail=tail)
    assert win.prompt_tokens == tokens.count_request(win.payload, model=cfg.model)
    assert win.payload[0] == {"role": "system", "content": win.system_prompt}
    assert "earlier: noodles" in win.system_prompt


def test_mood_and_summary_are_in_the_system_prompt_and_give_way_before_the_newest_message(cfg):
    mood = Mood("tired", "user", datetime.now(UTC))
    summary = "They compared ramen shops. " * 40
    full = window.prompt(alice(), cfg).assemble(mood=mood, summary=summary, tail=_messages(10))
    assert "tired" in full.system_prompt
    assert "They compared ramen shops." in full.system_prompt
    big = _available(cfg, mood=mood)  # fits beside the mood, not beside the summary too
    lean = window.prompt(alice(), cfg).assemble(mood=mood, summary=summary, tail=_messages(big))
    assert "tired" in lean.system_prompt
    assert "ramen" not in lean.system_prompt
    with pytest.raises(MessageTooLong):
        window.prompt(alice(), cfg).assemble(mood=mood, summary=summary, tail=_messages(_available(cfg) + 1))


def test_the_tail_limit_follows_the_cheapest_possible_message():
    assert window.tail_limit(100) == 100 // window.MIN_MESSAGE_TOKENS + 1
    assert window.tail_limit(10**9) == window.MAX_TAIL


def _fold_range(win, *, through=0, stored=None, last_seq=None, cap=200):
    last_seq = last_seq or win.messages[-1].seq
    stored = stored or last_seq
    return window.fold_range(
        window=win,
        summary=RollingSummary("", through),
        answering=win.messages[-1].seq,
        stored=stored,
        last_seq=last_seq,
        stored_after=stored + 1,
        cap=cap,
    )


def test_no_fold_is_due_while_every_message_is_in_the_window_or_the_summary(cfg):
    whole = window.prompt(alice(), cfg).assemble(mood=None, summary="", tail=_messages(*[10] * 20))
    assert _fold_range(whole) is None
    covered = window.prompt(alice(), cfg).assemble(mood=None, summary="", tail=_messages(*[10] * 20, first_seq=31))
    assert _fold_range(covered, through=30, stored=50, last_seq=50) is None


def test_a_fold_is_due_once_a_message_leaves_the_window_and_covers_the_older_half_of_it(cfg):
    win = window.prompt(alice(), cfg).assemble(mood=None, summary="", tail=_messages(*[10] * 20, first_seq=31))
    assert _fold_range(win, through=29, stored=50, last_seq=50) == (30, 30 + 10)


def test_a_fold_is_due_when_the_cap_would_drop_unsummarized_messages(cfg):
    win = window.prompt(alice(), cfg).assemble(mood=None, summary="", tail=_messages(*[10] * 20))
    assert _fold_range(win, cap=20) == (1, 10)
    assert _fold_range(win, cap=21) is None


def test_a_fold_takes_the_oldest_messages_that_fit_its_budget_and_says_how_far_it_got():
    cfg = replace(get_settings(), context_budget=1000)
    fixed = tokens.count_request(
        prompts.fold_messages(previous_summary="earlier", transcript=(), language="ko"), model=cfg.model
    )
    room = cfg.context_budget - window.SUMMARY_MAX_TOKENS - fixed
    long_text = "word " * (room // 2 - 20)  # two of them fit, three do not
    older = tuple(
        replace(m, content=long_text, tokens=tokens.count_message(m.role, long_text, model=cfg.model))
        for m in _messages(0, 0, 0, first_seq=5)
    )
    request, through = window.fold_request(alice(), cfg, previous="earlier", messages=older)
    assert through == 6
    assert request.purpose == "fold"
    assert request.offline.previous_summary == "earlier"
    assert len(request.offline.transcript) == 2
    assert tokens.count_request(request.messages, model=cfg.model) <= cfg.context_budget - window.SUMMARY_MAX_TOKENS


def test_a_session_summary_keeps_the_rolling_summary_and_the_newest_messages_that_fit():
    cfg = replace(get_settings(), context_budget=1000)
    text = "word " * 150
    messages = tuple(
        replace(m, content=f"{m.seq} {text}", tokens=tokens.count_message(m.role, text, model=cfg.model) + 1)
        for m in _messages(*[0] * 6)
    )
    request = window.summary_request(alice(), cfg, rolling_summary="the start", messages=messages)
    assert request.purpose == "summary"
    assert "the start" in request.messages[-1]["content"]
    assert [m["content"].split()[0] for m in request.offline.transcript] == ["4", "5", "6"]
    assert tokens.count_request(request.messages, model=cfg.model) <= cfg.context_budget - window.SUMMARY_MAX_TOKENS


def test_past_session_summaries_give_way_before_the_conversation_oldest_first():
    cfg = get_settings()  # the default budget, 3000 tokens
    base = alice()
    pasts = tuple(
        PastSummary(
            title=f"session {n}",
            ended_at=datetime(2026, 11, 20 - n, tzinfo=UTC),
            summary="liked spicy food and quiet places. " * 50,
        )
        for n in range(20)  # PAST_SESSION_SUMMARIES=20 of them, newest first, each near 2,000 characters
    )
    context = replace(base, past_summaries=pasts)
    window.prompt(context, cfg).tail_budget(
        newest_tokens=10
    )  # no MessageTooLong: past sessions are not in the bare prompt
    win = window.prompt(context, cfg).assemble(mood=None, summary="", tail=_messages(10))
    assert "session 0" in win.system_prompt  # the newest past session fits
    assert "session 19" not in win.system_prompt  # the oldest gave way
    assert win.prompt_tokens <= window.message_budget(cfg) + tokens.REPLY_PRIMING
    long = window.prompt(context, cfg).assemble(mood=None, summary="", tail=_messages(*[380] * 5))
    assert len(long.messages) == 5  # the conversation stays whole
    assert "session 0" not in long.system_prompt  # past sessions gave way to it
