"""Scripted faults as the wire shows them: error statuses, dropped connections, and broken streams (or the closest
thing a plain answer can do)."""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.openai.items import Fault
from tests.fakes.openai.streaming import Ending, StreamPlan
from tests.fakes.openai.wire import format_seconds, split_tokens, usage

FAULT_ENDINGS: dict[str, Ending] = {
    "cut_stream": "cut",
    "malformed_chunk": "malformed",
    "error_chunk": "error",
}


class FaultsMixin:
    """The handler's fault half (mixed into handler.Handler, whose streams and writes it uses)."""

    # -- faults ------------------------------------------------------------------------------

    def _fault(self, body: dict[str, Any], fault: Fault, *, stream: bool) -> None:
        if fault.kind == "rate_limited":
            retry_after = format_seconds(fault.retry_after if fault.retry_after is not None else 1)
            self._send_error(429, fault.message, headers={"Retry-After": retry_after})
        elif fault.kind == "status":
            self._send_error(fault.status_code, fault.message)
        elif fault.kind == "drop":
            self.close_connection = True  # the connection closes with nothing written
        elif stream:
            self._stream_fault(body, fault)
        else:
            self._plain_fault(body, fault)

    def _fault_chunks(self, fault: Fault) -> list[str]:
        tokens = split_tokens(fault.content) or ["token"]
        if fault.kind == "no_finish_reason":
            return tokens
        return [tokens[i % len(tokens)] for i in range(fault.after_chunks)]

    def _stream_fault(self, body: dict[str, Any], fault: Fault) -> None:
        chunks = self._fault_chunks(fault)
        plan = StreamPlan(
            {"role": "assistant", "content": ""},
            [{"content": c} for c in chunks],
            text="".join(chunks),
            finish_reason=None,
            usage=None,
            interval=self._interval(0.0, len(chunks)),
            ending=FAULT_ENDINGS.get(fault.kind, "done"),
            error_message=fault.message,
        )
        self._stream(body, plan)

    def _plain_fault(self, body: dict[str, Any], fault: Fault) -> None:
        if fault.kind == "cut_stream":
            message = {"role": "assistant", "content": fault.content, "refusal": None}
            payload = json.dumps(self._completion(body, message, "stop", usage(body, fault.content, None)))
            data = payload.encode()
            self._send_head(200, "application/json", {"Content-Length": str(len(data))})
            self._write(data[: len(data) // 2])
            self.close_connection = True
        elif fault.kind == "malformed_chunk":
            data = b"{not json"
            self._send_head(200, "application/json", {"Content-Length": str(len(data))})
            self._write(data)
        elif fault.kind == "error_chunk":
            self._send_error(500, fault.message)
        else:  # no_finish_reason
            message = {"role": "assistant", "content": fault.content, "refusal": None}
            self._send_json(200, self._completion(body, message, None, usage(body, fault.content, None)))
