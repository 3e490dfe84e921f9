"""Token counting: offline, identical to tiktoken's own encodings, and billed like the OpenAI API bills chat."""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tiktoken

from llm import tokens

ROOT = Path(__file__).resolve().parents[2]

# The example from the OpenAI cookbook, "How to count tokens with tiktoken", section 6 "Counting tokens for chat
# completions API calls": https://github.com/openai/openai-cookbook/blob/main/examples/How_to_count_tokens_with_tiktoken.ipynb
# (read at commit c81359cdc6744f001e40c08a192604c5113fdab3). Its published output, from the API's usage.prompt_tokens:
# 129 for gpt-3.5-turbo, gpt-4-0613 and gpt-4; 124 for gpt-4o and gpt-4o-mini.
COOKBOOK_MESSAGES = [
    {
        "role": "system",
        "content": (
            "You are a helpful, pattern-following assistant that translates corporate jargon into plain English."
        ),
    },
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
    {
        "role": "system",
        "name": "example_user",
        "content": (
            "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."
        ),
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client deliverable.",
    },
]

SAMPLES = [
    "tiktoken is great!",
    "お誕生日おめでとう",
    "오늘 너무 피곤해요. 따뜻한 저녁 추천해 줄래요?",
    "I'll pay 12,500 KRW at 7:30pm; it's 2 + 2 = 4.\n\n  Done!\r\n",
    "Emoji 😀 and <|endoftext|> as plain text",
]


@pytest.mark.parametrize(
    ("model", "published"),
    [("gpt-3.5-turbo", 129), ("gpt-4-0613", 129), ("gpt-4", 129), ("gpt-4o", 124), ("gpt-4o-mini", 124)],
)
def test_request_count_matches_the_prompt_tokens_the_cookbook_published(model, published):
    """The cookbook's example_messages cost exactly what the OpenAI API billed for them (see COOKBOOK_MESSAGES)."""
    assert tokens.count_request(COOKBOOK_MESSAGES, model=model) == published


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o-mini", "o200k_base"),
        ("gpt-4o-2024-08-06", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-3.5-turbo-0125", "cl100k_base"),
        ("llama3.1:8b", "o200k_base"),  # unknown to tiktoken (an Ollama name)
        ("text-davinci-003", "o200k_base"),  # known, but its p50k_base file is not shipped
    ],
)
def test_the_encoding_follows_tiktokens_model_mapping_with_o200k_base_by_default(model, encoding):
    assert tokens.encoding_name(model) == encoding


def test_a_message_costs_its_role_content_and_overhead():
    role, content = "user", "What should I eat tonight?"
    expected = tokens.TOKENS_PER_MESSAGE + sum(tokens.count_text(text, model="gpt-4o") for text in (role, content))
    assert tokens.count_message(role, content, model="gpt-4o") == expected
    assert tokens.count_request([{"role": role, "content": content}], model="gpt-4o") == expected + tokens.REPLY_PRIMING


def test_text_that_spells_a_special_token_is_counted_as_text():
    assert tokens.count_text("<|endoftext|>", model="gpt-4o") > 1


@pytest.mark.parametrize("name", ["o200k_base", "cl100k_base"])
def test_encodings_are_identical_to_tiktokens_own(name, tmp_path, monkeypatch):
    """Same pattern, ranks and special tokens: tiktoken loads the same files from a cache dir named as it expects."""
    data = (tokens.DATA_DIR / f"{name}.tiktoken").read_bytes()
    url = f"https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
    (tmp_path / hashlib.sha1(url.encode()).hexdigest()).write_bytes(data)  # noqa: S324 - tiktoken's cache naming
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    official = tiktoken.get_encoding(name)
    ours = tokens._encoding(name)
    assert ours.special_tokens_set == official.special_tokens_set
    for sample in SAMPLES:
        assert ours.encode(sample, allowed_special="all") == official.encode(sample, allowed_special="all")


def test_counting_uses_no_network_and_writes_no_cache(tmp_path, closed_port):
    """In a fresh process whose proxies point at a closed port and whose sockets refuse to connect, with an empty
    TIKTOKEN_CACHE_DIR (where tiktoken would look first), both encodings load and the cache dir stays empty."""
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()
    proxy = f"http://127.0.0.1:{closed_port}"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "TIKTOKEN_CACHE_DIR": str(cache),
        "HTTP_PROXY": proxy,
        "HTTPS_PROXY": proxy,
        "ALL_PROXY": proxy,
        "NO_PROXY": "",
    }
    script = (
        "import socket\n"
        "def refuse(*args, **kwargs):\n"
        "    raise OSError('network used')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "from llm import tokens\n"
        "print(tokens.count_text('hello world', model='gpt-4o'), tokens.count_text('hello world', model='gpt-4'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["2", "2"]
    assert list(cache.iterdir()) == []


def test_concurrent_first_uses_build_each_encoding_once():
    from concurrent.futures import ThreadPoolExecutor

    from llm import tokens

    tokens._built_encoding.cache_clear()
    tokens._encoding_for_model.cache_clear()
    with ThreadPoolExecutor(max_workers=8) as pool:
        encodings = list(pool.map(lambda _: tokens._encoding("cl100k_base"), range(8)))
    assert all(encoding is encodings[0] for encoding in encodings)
    assert tokens._built_encoding.cache_info().misses == 1
