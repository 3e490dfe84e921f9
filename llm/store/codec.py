"""The JSON of what is stored: messages, moods, turns (idempotency records), and the digests of an Idempotency-Key.

Stored JSON is compact and UTF-8. A message starts `{"seq":N,"tokens":T,`: the scripts read both without decoding.
"""

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from llm.data import Card, CardItem, Checks, Message, Mood, Turn, Usage


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _message_fields(message: Message) -> dict[str, Any]:
    # seq first and tokens second: the scripts read both from the start of the JSON without decoding it.
    fields: dict[str, Any] = {
        "seq": message.seq,
        "tokens": message.tokens,
        "id": message.id,
        "role": message.role,
        "content": message.content,
        "created_at": message.created_at.isoformat(),
    }
    if message.interrupted:
        fields["interrupted"] = True
    if message.recommendations:
        fields["recommendations"] = [card_fields(card) for card in message.recommendations]
    return fields


def card_fields(card: Card) -> dict[str, Any]:
    """A card as stored with its message (and as the API shows it)."""
    item, checks = card.item, card.checks
    return {
        "id": card.id,
        "item": {
            "external_id": item.external_id,
            "kind": item.kind,
            "name": item.name,
            "area": item.area,
            "price": item.price,
            "currency": item.currency,
            "tags": list(item.tags),
        },
        "reason": card.reason,
        "checks": {
            "allergens": list(checks.allergens),
            "diets": list(checks.diets),
            "budget_remaining": checks.budget_remaining,
            "unverified": list(checks.unverified),
        },
    }


def _card(fields: dict[str, Any]) -> Card:
    item, checks = fields["item"], fields["checks"]
    return Card(
        id=fields["id"],
        item=CardItem(**{**item, "tags": tuple(item["tags"])}),
        reason=fields["reason"],
        checks=Checks(
            allergens=tuple(checks["allergens"]),
            diets=tuple(checks["diets"]),
            budget_remaining=checks["budget_remaining"],
            unverified=tuple(checks["unverified"]),
        ),
    )


def encode_message(message: Message) -> str:
    return dumps(_message_fields(message))


def message_body(message: Message) -> str:
    """The stored JSON of a message after its `{"seq":N,` head, for a script that assigns the seq."""
    fields = _message_fields(message)
    del fields["seq"]
    return dumps(fields)[1:]


def _message(fields: dict[str, Any]) -> Message:
    return Message(
        id=fields["id"],
        seq=fields["seq"],
        role=fields["role"],
        content=fields["content"],
        tokens=fields["tokens"],
        created_at=datetime.fromisoformat(fields["created_at"]),
        interrupted=fields.get("interrupted", False),
        recommendations=tuple(_card(card) for card in fields.get("recommendations", ())),
    )


def decode_message(raw: bytes | str) -> Message:
    return _message(json.loads(raw))


def decode_messages(raw: Sequence[bytes]) -> tuple[Message, ...]:
    # One JSON document for the lot: a single decoder call costs a third of one call per message.
    return tuple(_message(fields) for fields in json.loads(b"[" + b",".join(raw) + b"]"))


def encode_mood(mood: Mood) -> str:
    return dumps({"mood": mood.mood, "source": mood.source, "set_at": mood.set_at.isoformat()})


def _mood(fields: dict[str, Any] | None) -> Mood | None:
    if not fields:
        return None
    return Mood(mood=fields["mood"], source=fields["source"], set_at=datetime.fromisoformat(fields["set_at"]))


def decode_mood(raw: bytes | str | None) -> Mood | None:
    return _mood(json.loads(raw)) if raw else None


def turn_after_mood(turn: Turn) -> str:
    """The stored JSON of a turn after its `{"mood":...,` head, which FINISH writes (the mood is the store's)."""
    fields = {
        "user_message": _message_fields(turn.user_message),
        "assistant_message": _message_fields(turn.assistant_message),
        "usage": {
            "prompt_tokens": turn.usage.prompt_tokens,
            "completion_tokens": turn.usage.completion_tokens,
            "source": turn.usage.source,
        },
        "provider": turn.provider,
        "messages_added": turn.messages_added,
    }
    return dumps(fields)[1:]


def decode_turn(raw: bytes | str) -> Turn:
    fields = json.loads(raw)
    return Turn(
        user_message=_message(fields["user_message"]),
        assistant_message=_message(fields["assistant_message"]),
        mood=_mood(fields["mood"]),
        # Records stored before the source was kept (it is not known then): a model's counts as the server's.
        usage=Usage(**{"source": "server" if fields["provider"] == "openai" else "counted", **fields["usage"]}),
        provider=fields["provider"],
        messages_added=fields.get("messages_added", 0),  # absent from records stored before it was kept
    )


@dataclass(frozen=True, slots=True)
class Idempotency:
    """An Idempotency-Key as stored: the SHA-256 of the key, and of what the request asked for."""

    digest: str
    fingerprint: str


def idempotency(key: str | None, *, kind: str, text: str) -> Idempotency | None:
    if key is None:
        return None
    return Idempotency(
        digest=hashlib.sha256(key.encode()).hexdigest(),
        fingerprint=hashlib.sha256(f"{kind}\n{text}".encode()).hexdigest(),
    )
