"""The recommending responder: answers a reply request the way a grounded model does, for benchmarks that measure
the recommending turn (`python -m tests.fakes.openai --recommend`, or `FakeOpenAI(responder=recommending_responder)`).

It reads the `<candidates>` block of the request's messages (one `- item_id: <id> | <name> | ...` line per item, as
llm/candidates.py renders it) and answers the structured reply of llm/reply_json.py: a mood, no rule noted, the first
`PROPOSED` candidates' ids with a short reason, and a short reply text that names them. A request without candidates
(a plain chat request, or an empty block) gets no recommendations and a reply that says so.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tests.fakes.openai.items import Reply
from tests.fakes.openai.wire import message_text

PROPOSED = 2
MOOD = "happy"
REASON = "Fits your request and your rules."
NOTHING_TEXT = "Nothing fits right now."
_BLOCK = re.compile(r"<candidates>\n(.*?)</candidates>", re.DOTALL)
_ITEM_LINE = re.compile(r"^- item_id: (\S+) \| ([^|\n]+?) \|", re.MULTILINE)


def offered(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(item_id, name) of each line of the first `<candidates>` block in the request's messages, in order."""
    for message in body.get("messages") or ():
        if isinstance(message, dict) and (block := _BLOCK.search(message_text(message.get("content")))):
            return [(item_id, name.strip()) for item_id, name in _ITEM_LINE.findall(block.group(1))]
    return []


def short_name(name: str) -> str:
    """What a reply calls an item: its name before a parenthesis ("홍대 불쭈꾸미 (Hongdae ...)" -> "홍대 불쭈꾸미")."""
    return name.split(" (", 1)[0].strip() or name


def recommending_answer(body: dict[str, Any]) -> dict[str, Any]:
    """The structured answer to `body`, every member of the schema in its order: {"mood", "noted" (none: the fake
    notes no rule), "recommendations": [{"item_id", "reason"}], "reply"}."""
    chosen = offered(body)[:PROPOSED]
    names = " or ".join(short_name(name) for _, name in chosen)
    return {
        "mood": MOOD,
        "noted": None,
        "recommendations": [{"item_id": item_id, "reason": REASON} for item_id, _ in chosen],
        "reply": f"Try {names}." if chosen else NOTHING_TEXT,
    }


def recommending_responder(body: dict[str, Any]) -> Reply:
    """A `Responder`: the structured answer as the content of a reply (raw UTF-8, as models write it)."""
    return Reply(content=json.dumps(recommending_answer(body), ensure_ascii=False))
