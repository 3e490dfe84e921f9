"""Streaming: how an answer is cut into chunks and paced, and the server-sent events of a stream (chunked transfer
encoding written by hand, so that a stream cut short is an incomplete body, exactly as with a real server)."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tests.fakes.openai.items import Reply, ToolCallReply
from tests.fakes.openai.wire import split_tokens, usage

MALFORMED_EVENT = b"data: {not json\n\n"

Ending = Literal["done", "cut", "malformed", "error"]


@dataclass
class StreamPlan:
    """What one streamed answer sends: a first delta, then content deltas, then how it ends."""

    first_delta: dict[str, Any]
    deltas: list[dict[str, Any]]
    text: str  # everything the deltas carry, for the usage estimate
    finish_reason: str | None
    usage: Mapping[str, int] | None
    interval: float
    ending: Ending = "done"
    error_message: str = ""


def stretched(content: str, n: int) -> list[str]:
    """`n` word tokens made from `content` by cycling its words. A structured reply (a JSON object with a string
    "reply") stays valid JSON: its reply's words are cycled, and the members before the reply come whole in the first
    token with the reply's first word, so the first token a client reads starts the reply text, as when a model's
    head is fast and its text is paced."""
    try:
        answer = json.loads(content)
    except ValueError:
        answer = None
    if not (isinstance(answer, dict) and isinstance(answer.get("reply"), str)):
        words = content.split() or ["token"]
        return [("" if i == 0 else " ") + words[i % len(words)] for i in range(n)]
    words = answer["reply"].split() or ["token"]
    head = {key: value for key, value in answer.items() if key != "reply"}
    prefix = json.dumps(head, ensure_ascii=False)[:-1] + (", " if head else "") + '"reply": '
    text = json.dumps(" ".join(words[i % len(words)] for i in range(n)), ensure_ascii=False) + "}"
    first, *rest = split_tokens(text)  # one a word: `"w1`, ` w2`, ..., ` wn"}`
    return [prefix + first, *rest]


class StreamingMixin:
    """The handler's streaming half (mixed into handler.Handler, whose `fake` and writes it uses)."""

    def _pacing(self) -> tuple[float | None, float | None]:
        rate = self.fake.stream_tokens_per_second
        return (rate if rate and rate > 0 else None), self.fake.stream_duration

    def _reply_chunks(self, reply: Reply) -> list[str]:
        if reply.chunks is not None:
            return list(reply.chunks)
        rate, duration = self._pacing()
        if rate and duration:  # a benchmark stream: stretch the words to fill the duration
            return stretched(reply.content, max(1, round(rate * duration)))
        return split_tokens(reply.content)

    def _interval(self, item_chunk_delay: float, n_chunks: int) -> float:
        if item_chunk_delay > 0:
            return item_chunk_delay
        rate, duration = self._pacing()
        if rate:
            return 1.0 / rate
        if duration and n_chunks:
            return duration / n_chunks
        return 0.0

    @staticmethod
    def _argument_pieces(arguments: str) -> list[str]:
        size = max(1, -(-len(arguments) // 4))  # about four pieces, as a real stream would send
        return [arguments[i : i + size] for i in range(0, len(arguments), size)] or [""]

    def _plan(self, item: Reply | ToolCallReply) -> StreamPlan:
        if isinstance(item, ToolCallReply):
            pieces = self._argument_pieces(item.arguments_json)
            first = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "index": 0,
                        "id": item.call_id,
                        "type": "function",
                        "function": {"name": item.name, "arguments": ""},
                    }
                ],
            }
            deltas = [{"tool_calls": [{"index": 0, "function": {"arguments": p}}]} for p in pieces]
            return StreamPlan(
                first,
                deltas,
                text=item.arguments_json,
                finish_reason="tool_calls",
                usage=item.usage,
                interval=self._interval(item.chunk_delay, len(deltas)),
            )
        chunks = self._reply_chunks(item)
        return StreamPlan(
            {"role": "assistant", "content": ""},
            [{"content": c} for c in chunks],
            text="".join(chunks),
            finish_reason=item.finish_reason,
            usage=item.usage,
            interval=self._interval(item.chunk_delay, len(chunks)),
        )

    # -- streaming ---------------------------------------------------------------------------

    def _stream(self, body: dict[str, Any], plan: StreamPlan) -> None:
        completion_id = self.fake._completion_id()
        created = int(time.time())
        model = body.get("model") or self.fake.models[0]
        options = body.get("stream_options")
        include_usage = self.fake.stream_usage and isinstance(options, dict) and bool(options.get("include_usage"))

        def chunk(delta: dict[str, Any] | None, finish_reason: str | None = None) -> dict[str, Any]:
            obj: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": []
                if delta is None
                else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
            }
            if include_usage:
                obj["usage"] = None
            return obj

        self._send_head(
            200,
            "text/event-stream; charset=utf-8",
            {"Transfer-Encoding": "chunked", "Cache-Control": "no-cache"},
        )
        self._send_event(chunk(plan.first_delta))
        # Pace against a schedule, not sleep after sleep, so write time does not slow the rate down.
        started = time.monotonic()
        for i, delta in enumerate(plan.deltas, start=1):
            self.fake._pause(started + i * plan.interval - time.monotonic())
            self._send_event(chunk(delta))

        if plan.ending == "cut":
            self.close_connection = True  # no terminating chunk: the client sees an incomplete body
            return
        if plan.ending == "malformed":
            self._write_chunk(MALFORMED_EVENT)
            self.close_connection = True
            return
        if plan.ending == "error":
            self._send_event({"error": {"message": plan.error_message, "type": "server_error"}})
        if plan.finish_reason is not None:
            self._send_event(chunk({}, plan.finish_reason))
            if include_usage:
                final = chunk(None)
                final["usage"] = usage(body, plan.text, plan.usage)
                self._send_event(final)
        # [DONE] and the terminating zero-size chunk go out together: the body is complete.
        self._write(self._chunk_bytes(b"data: [DONE]\n\n") + b"0\r\n\r\n")

    @staticmethod
    def _chunk_bytes(data: bytes) -> bytes:
        return b"%x\r\n%s\r\n" % (len(data), data)

    def _write_chunk(self, data: bytes) -> None:
        self._write(self._chunk_bytes(data))

    def _send_event(self, obj: dict[str, Any]) -> None:
        self._write_chunk(b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n")
