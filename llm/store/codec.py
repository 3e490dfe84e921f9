"""The JSON of what is stored: messages, moods, turns (idempotency records), and the digests of an Idempotency-Key.

Stored JSON is compact and UTF-8. A message starts `{"seq":N,"tokens":T,`: the scripts read both without decoding.
"""

import dataclasses
import functools
import hashlib
import json
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from llm.data import Card, Constraints, Message, Mood, Turn, Usage

D = TypeVar("D")

# A session's constraints in its hash (llm/store/lua/prelude.lua, `tighten`): one field per code, tag or kind.
_CONSTRAINT_FIELDS = (("allergen:", "allergens"), ("diet:", "diets"), ("tag:", "exclude_tags"), ("kind:", "kinds"))


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
    return plain(card)


def card_of(fields: dict[str, Any]) -> Card:
    """The card `card_fields` wrote."""
    return of(Card, fields)


def plain(value: Any) -> dict[str, Any]:
    """A frozen dataclass of `llm.data` as JSON-ready values, each field by its declared name and in its declared
    order: nested dataclasses as objects, tuples as lists."""
    return {name: write(getattr(value, name)) for name, write, _ in _shape(type(value))}


def of(kind: type[D], fields: dict[str, Any]) -> D:
    """The `kind` that `plain` gave `fields`; a field absent (stored before it was declared) takes its default."""
    return kind(**{name: read(fields[name]) for name, _, read in _shape(kind) if name in fields})


@functools.cache
def _shape(kind: type) -> tuple[tuple[str, Callable[[Any], Any], Callable[[Any], Any]], ...]:
    """Each field of the dataclass `kind`, with what writes its value as JSON and what reads it back."""
    hints = typing.get_type_hints(kind)
    return tuple((item.name, *_codec(hints[item.name])) for item in dataclasses.fields(kind))


def _codec(annotation: Any) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    if typing.get_origin(annotation) in (types.UnionType, typing.Union):  # `X | None`
        [inner] = args
        write, read = _codec(inner)
        if write is _same and read is _same:
            return _same, _same
        return (lambda value: None if value is None else write(value)), (
            lambda value: None if value is None else read(value)
        )
    if dataclasses.is_dataclass(annotation):
        return plain, functools.partial(of, annotation)
    if typing.get_origin(annotation) is tuple:
        write, read = _codec(args[0])
        if write is _same and read is _same:
            return list, tuple
        return (lambda value: [write(item) for item in value]), (lambda value: tuple(read(item) for item in value))
    return _same, _same


def _same(value: Any) -> Any:
    return value


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
        recommendations=tuple(card_of(card) for card in fields.get("recommendations", ())),
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
        "usage": plain(turn.usage),
        "provider": turn.provider,
        "messages_added": turn.messages_added,
        "constraints": constraints_fields(turn.constraints),
    }
    return dumps(fields)[1:]


def encode_turn(turn: Turn) -> str:
    """A turn as its idempotency record keeps it, its mood included."""
    return '{"mood":' + (encode_mood(turn.mood) if turn.mood else "null") + "," + turn_after_mood(turn)


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
        constraints=constraints_of(fields.get("constraints") or {}),
    )


def constraints_fields(constraints: Constraints) -> dict[str, Any]:
    """The constraints as the API and a stored turn show them."""
    return plain(constraints)


def constraints_of(fields: dict[str, Any]) -> Constraints:
    return of(Constraints, fields)


def encode_constraints(constraints: Constraints) -> str:
    """The lines `tighten` adds to a session's hash: one per code, tag and kind, and `max_price=<n>`."""
    lines = [f"{prefix}{value}" for prefix, name in _CONSTRAINT_FIELDS for value in getattr(constraints, name)]
    if constraints.max_price is not None:
        lines.append(f"max_price={constraints.max_price}")
    return "\n".join(lines)


def decode_constraints(raw: Sequence[bytes] | dict[bytes, bytes] | None) -> Constraints:
    """A session's constraints hash (HGETALL: a flat list from a script, a dict from the client), each list sorted."""
    if not raw:
        return Constraints()
    pairs = raw.items() if isinstance(raw, dict) else zip(raw[::2], raw[1::2], strict=True)
    found: dict[str, list[str]] = {name: [] for _, name in _CONSTRAINT_FIELDS}
    cap = None
    for key, value in pairs:
        field = key.decode() if isinstance(key, bytes) else key
        if field == "max_price":
            cap = int(value)
            continue
        for prefix, name in _CONSTRAINT_FIELDS:
            if field.startswith(prefix):
                found[name].append(field[len(prefix) :])
    return Constraints(max_price=cap, **{name: tuple(sorted(values)) for name, values in found.items()})


@dataclass(frozen=True, slots=True)
class Idempotency:
    """An Idempotency-Key as stored: the SHA-256 of the key, and of what the request asked for."""

    digest: str
    fingerprint: str


def key_digest(key: str) -> str:
    """What names an Idempotency-Key's record: never the key itself."""
    return hashlib.sha256(key.encode()).hexdigest()


def idempotency(key: str | None, *, kind: str, text: str) -> Idempotency | None:
    if key is None:
        return None
    return Idempotency(
        digest=key_digest(key),
        fingerprint=hashlib.sha256(f"{kind}\n{text}".encode()).hexdigest(),
    )
