"""What a message costs in Redis, against its own UTF-8 size, for Korean and English messages of several lengths.

Each kind of message is sent five times through the API (Django's test client in this process, the fake model
server echoing the message back as the reply, so that every element of the session's list holds the same text),
then the session's list is read back as raw bytes:

- stored bytes: the length of the message's list element (what STRLEN would say of it as a string);
- Redis memory: MEMORY USAGE of the whole list (SAMPLES 0: every element) divided by its length, which adds the
  list encoding and allocator overhead to the stored bytes;
- format: each element is a JSON object (not a pickle) holding the content as raw UTF-8 (ensure_ascii=False: the
  content's own bytes appear verbatim, with no \\uXXXX escapes). The customer cache entries are checked the same way.

Target: stored bytes <= 1.3 x the message's UTF-8 size + 150 bytes.
Run alone with `.venv/bin/python -m bench.stored_size`; it writes bench/results/stored_size.json.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from bench import common

CHARS = (10, 100, 1000, 2000)
MESSAGES_PER_KIND = 5
RATIO, SLACK = 1.3, 150
TEXT = {
    "en": "Could you suggest a quiet place for dinner tonight, somewhere near the station and not too expensive? ",
    "ko": "오늘 저녁에 역 근처에서 너무 비싸지 않고 조용하게 식사할 수 있는 곳을 추천해 주실 수 있을까요? ",
}


def sample(language: str, chars: int, n: int) -> str:
    """`chars` characters of Korean or English prose, distinct for each `n` (ending in a full stop: the API strips
    surrounding whitespace, which would change what is stored)."""
    body = TEXT[language] * (chars // len(TEXT[language]) + 1)
    return f"{n} {body}"[: chars - 1] + "."


def _echo(body: dict[str, Any]) -> Any:
    from tests.fakes.openai import Reply

    return Reply(content=body["messages"][-1]["content"])


def measure_kind(client: Any, raw: Any, language: str, chars: int) -> dict[str, Any]:
    created = client.post("/api/v1/sessions", data={"title": "stored size"}, content_type="application/json")
    session_id = created.json()["id"]
    texts = [sample(language, chars, n) for n in range(MESSAGES_PER_KIND)]
    for text in texts:
        response = client.post(
            f"/api/v1/sessions/{session_id}/messages",
            data=json.dumps({"content": text}),
            content_type="application/json",
        )
        if response.status_code != 201:
            return {"language": language, "chars": chars, "refused": response.json().get("code")}
    key = f"chat:{{{session_id}}}:messages"
    elements = raw.lrange(key, 0, -1)
    users = [e for e in elements if json.loads(e)["role"] == "user"]
    utf8 = [len(t.encode()) for t in texts]
    stored = [len(e) for e in users]
    verbatim = all(t.encode() in e for t, e in zip(texts, users, strict=True))
    json_objects = all(e.startswith(b"{") and isinstance(json.loads(e), dict) for e in elements)
    memory = raw.memory_usage(key, samples=0)
    worst = max(s / (RATIO * u + SLACK) for s, u in zip(stored, utf8, strict=True))
    return {
        "language": language,
        "chars": chars,
        "utf8_bytes": round(sum(utf8) / len(utf8), 1),
        "stored_bytes": round(sum(stored) / len(stored), 1),
        "overhead_bytes": round((sum(stored) - sum(utf8)) / len(stored), 1),
        "ratio": round(sum(stored) / sum(utf8), 3),
        "redis_memory_per_message": round(memory / len(elements), 1),
        "memory_ratio": round(memory / sum(len(e) for e in elements), 3),
        "limit_bytes": round(RATIO * max(utf8) + SLACK, 1),
        "within_target": worst <= 1.0,
        "json_not_pickle": json_objects,
        "content_verbatim_utf8": verbatim,
    }


def cache_entries_are_json(raw: Any) -> bool:
    """Every customer cache entry (django-redis with the JSON serializer) is a JSON object, not a pickle."""
    keys = [k for k in raw.scan_iter(match=b"cb:*", count=1000) if not k.endswith(b":lease")]
    values = [raw.get(k) for k in keys]
    return bool(values) and all(v is not None and isinstance(json.loads(v), dict) for v in values)


def run(customers: list[common.Customer]) -> dict[str, Any]:
    import redis

    from tests.fakes.openai import FakeOpenAI

    with FakeOpenAI() as fake:
        fake.set_responder(_echo)
        common.setup_django(
            OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="bench", LOG_LEVEL="warning", CHAT_MAX_MESSAGE_CHARS="4000"
        )
        from django.test import Client

        client = Client(headers={"Authorization": f"Token {customers[0].token}"})
        with redis.Redis.from_url(common.REDIS_URL) as raw:
            rows = [measure_kind(client, raw, language, chars) for language in TEXT for chars in CHARS]
            cache_json = cache_entries_are_json(raw)
    measured = [r for r in rows if "refused" not in r]
    return {
        "messages_per_kind": MESSAGES_PER_KIND,
        "rows": rows,
        "cache_entries_json": cache_json,
        "target": f"stored bytes <= {RATIO} x UTF-8 bytes + {SLACK}",
        "met": bool(measured)
        and all(r["within_target"] and r["json_not_pickle"] and r["content_verbatim_utf8"] for r in measured)
        and cache_json,
    }


def print_table(result: dict[str, Any]) -> None:
    print(f"stored size per message ({result['messages_per_kind']} messages of each kind), target {result['target']}")
    header = (
        f"{'lang':>4} {'chars':>5} | {'UTF-8 B':>8} {'stored B':>9} {'+bytes':>7} {'ratio':>6} {'limit B':>8} | "
        f"{'Redis mem/msg':>13} {'mem/stored':>10} | {'JSON':>4} {'raw UTF-8':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in result["rows"]:
        if "refused" in r:
            print(f"{r['language']:>4} {r['chars']:>5} | refused: {r['refused']}")
            continue
        print(
            f"{r['language']:>4} {r['chars']:>5} | {r['utf8_bytes']:>8.0f} {r['stored_bytes']:>9.0f}"
            f" {r['overhead_bytes']:>7.0f} {r['ratio']:>5.2f}x {r['limit_bytes']:>8.0f} |"
            f" {r['redis_memory_per_message']:>13.0f} {r['memory_ratio']:>9.2f}x |"
            f" {'yes' if r['json_not_pickle'] else 'NO':>4} {'yes' if r['content_verbatim_utf8'] else 'NO':>9}"
        )
    print(f"customer cache entries are JSON (no pickles): {'yes' if result['cache_entries_json'] else 'NO'}")


def main() -> int:
    with common.prepared() as customers:
        result = run(customers)
    path = common.write_result("stored_size", result)
    print_table(result)
    print(f"written to {path}")
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
