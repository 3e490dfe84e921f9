"""Token counting with tiktoken, offline: the encoding files ship in llm/tiktoken_data/.

Counts follow the OpenAI cookbook recipe "How to count tokens with tiktoken" (`num_tokens_from_messages`), which
matches the `prompt_tokens` the API bills for the gpt-3.5/gpt-4 (cl100k_base) and gpt-4o (o200k_base) families.
"""

import base64
import hashlib
import threading
from collections.abc import Mapping
from functools import cache, lru_cache
from pathlib import Path

import tiktoken
from tiktoken.model import encoding_name_for_model

TOKENS_PER_MESSAGE = 3  # OpenAI chat format overhead per message
TOKENS_PER_NAME = 1  # a message carrying a `name` costs one more token
REPLY_PRIMING = 3  # every reply is primed with <|start|>assistant<|message|>

DEFAULT_ENCODING = "o200k_base"  # unknown models (Ollama, vLLM, llama.cpp names) are counted as GPT-4o would be
DATA_DIR = Path(__file__).resolve().parent / "tiktoken_data"

_ENDOFTEXT = "<|endoftext|>"
_FIM_PREFIX = "<|fim_prefix|>"
_FIM_MIDDLE = "<|fim_middle|>"
_FIM_SUFFIX = "<|fim_suffix|>"
_ENDOFPROMPT = "<|endofprompt|>"

# Pattern, special tokens and file digests exactly as in tiktoken_ext/openai_public.py (tiktoken 0.14).
_ENCODINGS: dict[str, dict] = {
    "o200k_base": {
        "sha256": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        "pat_str": "|".join(
            [
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""\p{N}{1,3}""",
                r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
                r"""\s*[\r\n]+""",
                r"""\s+(?!\S)""",
                r"""\s+""",
            ]
        ),
        "special_tokens": {_ENDOFTEXT: 199999, _ENDOFPROMPT: 200018},
    },
    "cl100k_base": {
        "sha256": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        "pat_str": "|".join(
            [
                r"""'(?i:[sdmt]|ll|ve|re)""",
                r"""[^\r\n\p{L}\p{N}]?+\p{L}++""",
                r"""\p{N}{1,3}+""",
                r""" ?[^\s\p{L}\p{N}]++[\r\n]*+""",
                r"""\s++$""",
                r"""\s*[\r\n]""",
                r"""\s+(?!\S)""",
                r"""\s""",
            ]
        ),
        "special_tokens": {
            _ENDOFTEXT: 100257,
            _FIM_PREFIX: 100258,
            _FIM_MIDDLE: 100259,
            _FIM_SUFFIX: 100260,
            _ENDOFPROMPT: 100276,
        },
    },
}


def encoding_name(model: str) -> str:
    """The tiktoken encoding of `model` by tiktoken's own mapping; o200k_base for models it does not know or whose
    encoding is not shipped."""
    try:
        name = encoding_name_for_model(model)
    except KeyError:
        return DEFAULT_ENCODING
    return name if name in _ENCODINGS else DEFAULT_ENCODING


def preload(model: str) -> None:
    """Build the encoding of `model` now: in a server's master before its workers fork, so that they share it."""
    _encoding_for_model(model)


def count_text(text: str, *, model: str) -> int:
    """Tokens of `text` in the encoding of `model` (o200k_base for unknown models)."""
    # encode_ordinary: text that happens to spell a special token ("<|endoftext|>") is counted as text, not refused.
    return len(_encoding_for_model(model).encode_ordinary(text))


def count_message(role: str, content: str, *, model: str) -> int:
    """Tokens one chat message costs in a request: its content and role plus the per-message overhead."""
    return _message_tokens({"role": role, "content": content}, _encoding_for_model(model))


def count_request(messages: list[dict[str, str]] | tuple[dict[str, str], ...], *, model: str) -> int:
    """Prompt tokens of a whole request as OpenAI bills it: the messages plus the reply priming."""
    encoding = _encoding_for_model(model)
    return sum(_message_tokens(message, encoding) for message in messages) + REPLY_PRIMING


def _message_tokens(message: Mapping[str, str], encoding: tiktoken.Encoding) -> int:
    tokens = TOKENS_PER_MESSAGE + sum(len(encoding.encode_ordinary(value)) for value in message.values())
    return tokens + (TOKENS_PER_NAME if "name" in message else 0)


@lru_cache(maxsize=64)
def _encoding_for_model(model: str) -> tiktoken.Encoding:
    return _encoding(encoding_name(model))


# Building an encoding takes ~0.4 s and ~80 MB: concurrent first requests must wait for one build, not each run their
# own (functools.cache alone does not stop that).
_build_lock = threading.Lock()


def _encoding(name: str) -> tiktoken.Encoding:
    with _build_lock:
        return _built_encoding(name)


@cache
def _built_encoding(name: str) -> tiktoken.Encoding:
    spec = _ENCODINGS[name]
    return tiktoken.Encoding(
        name=name,
        pat_str=spec["pat_str"],
        mergeable_ranks=_load_ranks(DATA_DIR / f"{name}.tiktoken", spec["sha256"]),
        special_tokens=spec["special_tokens"],
    )


def _load_ranks(path: Path, sha256: str) -> dict[bytes, int]:
    """The BPE ranks of a .tiktoken file (one "base64-token rank" pair a line), checked against its digest.

    Not tiktoken.load.load_tiktoken_bpe: it copies every file it reads into tiktoken's cache directory (and fails if
    TIKTOKEN_CACHE_DIR points somewhere read-only); a file that ships with the code needs neither.
    """
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ValueError(f"{path.name} does not match its expected SHA-256 digest")
    pairs = (line.split() for line in data.splitlines() if line)
    return {base64.b64decode(token): int(rank) for token, rank in pairs}
