"""Helpers shared by the chat tests."""

import json
import re

from tests.fakes.openai import JSONReply, Reply

PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}
# A candidate of the turn's block, as llm/candidates.py writes it: `- item_id: <id> | <name> | ...`.
ITEM_LINE = re.compile(r"^- item_id: (\S+) \| ([^|]+) \|", re.MULTILINE)


def assert_problem(response, status: int, code: str) -> dict:
    """The response is an RFC 9457 problem with this status and code; returns its body."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = json.loads(response.content)
    assert set(body) >= PROBLEM_KEYS
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"https://chatbot.example/problems/{code}"
    return body


def parse_events(raw: bytes) -> list[tuple[str, object]]:
    """An SSE body as (event, decoded JSON data) pairs; `: ping` comments become ("ping", None)."""
    events = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        if block.startswith(":"):
            events.append(("ping", None))
            continue
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((fields["event"], json.loads(fields["data"])))
    return events


def offered(body: dict) -> list[tuple[str, str]]:
    """(external_id, name) of each candidate in the request's block, in order."""
    system = body["messages"][0]["content"]
    block = system.split("<candidates>", 1)[1].split("</candidates>", 1)[0]
    return [(item_id, name.strip()) for item_id, name in ITEM_LINE.findall(block)]


def answering(fake, make):
    """Script the model: `make(offered)` -> the structured answer (dict) or a Reply, for every reply request."""

    def respond(body):
        answer = make(offered(body))
        return answer if isinstance(answer, Reply) else JSONReply(answer)

    fake.set_responder(respond)
