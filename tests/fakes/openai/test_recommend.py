"""The recommending responder, exercised with the real ``openai`` client and the app's own prompt and reader: it
reads the candidate block that llm/prompts.py renders and answers the structured reply that llm/reply_json.py reads,
plain, streamed token by token, and stretched for a benchmark's stream. No Django, no database, no Redis.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from llm.data import MOODS
from llm.prompts import system_prompt
from llm.reply_json import RESPONSE_FORMAT, ReplyReader
from tests.fakes.openai import FakeOpenAI, recommending_responder
from tests.fakes.openai.recommend import NOTHING_TEXT, REASON
from tests.fakes.openai.wire import split_tokens
from tests.llm.contexts import ALICE_CANDIDATES, alice

pytestmark = pytest.mark.timeout(30)

REPO_ROOT = Path(__file__).resolve().parents[3]
REQUEST = {"role": "user", "content": "매운 저녁 추천해 주세요"}


def messages(candidates=ALICE_CANDIDATES) -> list[dict[str, Any]]:
    """A reply request as llm builds it: the real system prompt, with its candidate block, then the message."""
    context = dataclasses.replace(alice(), candidates=tuple(candidates))
    return [{"role": "system", "content": system_prompt(context)}, REQUEST]


@pytest.fixture(autouse=True)
def _flush_test_redis() -> None:
    """Overrides the suite-wide Redis flush: the fake server needs neither Redis nor Django."""


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(responder=recommending_responder) as server:
        yield server


@pytest.fixture
def client(fake: FakeOpenAI) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=0, timeout=5.0) as c:
        yield c


def complete(client: openai.OpenAI, request: list[dict[str, Any]]) -> dict[str, Any]:
    completion = client.chat.completions.create(model="fake-model", messages=request, response_format=RESPONSE_FORMAT)
    return json.loads(completion.choices[0].message.content)


def stream_contents(client: openai.OpenAI, request: list[dict[str, Any]]) -> list[str]:
    stream = client.chat.completions.create(model="fake-model", messages=request, stream=True)
    return [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]


def test_it_proposes_the_first_two_candidates_and_names_them(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    answer = complete(client, messages())

    # The schema's order: the reply text comes last.
    assert list(answer) == ["mood", "noted", "recommendations", "reply"]
    assert answer["mood"] in MOODS
    assert answer["recommendations"] == [
        {"item_id": "mapo-tteok", "reason": REASON},
        {"item_id": "mapo-jjukkumi", "reason": REASON},
    ]
    assert answer["reply"] == "Try Mapo Tteokbokki House or 홍대 불쭈꾸미."  # a name before its parenthesis


def test_without_candidates_it_recommends_nothing(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    nothing = {"mood": "happy", "noted": None, "recommendations": [], "reply": NOTHING_TEXT}
    assert complete(client, messages(candidates=())) == nothing
    assert complete(client, [REQUEST])["recommendations"] == []  # no block at all: a plain chat request


def test_a_stream_is_token_by_token_and_reads_as_the_app_reads_it(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.configure(stream_tokens_per_second=200)
    request = messages()

    pieces = stream_contents(client, request)

    assert pieces == split_tokens(recommending_responder({"messages": request}).content)  # a word a token
    reader = ReplyReader(structured=True)
    emitted = "".join(reader.feed(piece) for piece in pieces)
    assert reader.finish("stop") == ("Try Mapo Tteokbokki House or 홍대 불쭈꾸미.", "happy")
    assert emitted == "Try Mapo Tteokbokki House or 홍대 불쭈꾸미."
    assert [p["item_id"] for p in reader.head["recommendations"]] == ["mapo-tteok", "mapo-jjukkumi"]


def test_a_benchmark_stream_stretches_the_reply_text_and_stays_valid_json(
    fake: FakeOpenAI, client: openai.OpenAI
) -> None:
    fake.configure(stream_tokens_per_second=100, stream_duration=0.3)

    pieces = stream_contents(client, messages())

    assert len(pieces) == 30  # 100 tokens/s for 0.3 s, the head included
    reader = ReplyReader(structured=True)
    # The members before the reply come whole with its first word: the first token starts the reply text.
    assert reader.feed(pieces[0]) == "Try"
    assert [p["item_id"] for p in reader.head["recommendations"]] == ["mapo-tteok", "mapo-jjukkumi"]
    for piece in pieces[1:]:
        reader.feed(piece)
    text, mood = reader.finish("stop")
    assert (len(text.split()), mood) == (30, "happy")
    assert text.startswith("Try Mapo Tteokbokki House or 홍대 불쭈꾸미. Try Mapo")
    answer = json.loads("".join(pieces))
    assert (answer["reply"], len(answer["recommendations"])) == (text, 2)


def test_reset_keeps_the_recommending_responder(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.set_responder(None)
    fake.reset()
    assert len(complete(client, messages())["recommendations"]) == 2


def test_cli_recommend() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.openai", "--port", "0", "--recommend"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline().strip().removeprefix("PORT="))
        with openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="test", max_retries=0, timeout=5.0) as c:
            assert [r["item_id"] for r in complete(c, messages())["recommendations"]] == ["mapo-tteok", "mapo-jjukkumi"]
    finally:
        process.terminate()
        returncode = process.wait(timeout=10)
    assert returncode == 0
