"""An OpenAI-compatible fake HTTP server for tests and benchmarks (standard library only).

It answers ``POST /v1/chat/completions`` (plain and ``"stream": true``) and ``GET /v1/models``.
Replies are scripted per test, first in first out (``script``); when the script is empty a
responder builds the reply from the request (``set_responder``), by default a fixed text; the recommending responder
(``recommending_responder``, ``--recommend`` on the command line) answers like a grounded model, proposing the first
candidates of the request's ``<candidates>`` block in the structured reply.
Scripted faults reproduce what a real provider or network does to a client: error statuses,
slow answers, dropped connections and broken streams.

Other processes drive it through a JSON control API on the same port (``/_fake/...``) or run it
standalone::

    python -m tests.fakes.openai --port 0 --stream-tokens-per-second 20 --stream-duration 10

which prints ``PORT=<n>`` once it listens and serves until SIGTERM or SIGINT.

Transport: HTTP/1.1 with keep-alive. Plain answers carry a Content-Length; streams use chunked
transfer encoding written by hand, so a stream cut short (``Fault.cut_stream``) is an incomplete
chunked body that the client detects, exactly as with a real server.

The package: ``items`` (what a test scripts), ``server`` (the fake: lifecycle, script, responder, request log),
``log`` (a received request), ``recommend`` (the recommending responder), ``handler`` (HTTP: routing, the control
API, plain answers), ``streaming`` (chunks, pacing, server-sent events), ``faults`` (faults on the wire), ``wire``
(token counts, usage, error bodies) and ``__main__`` (the command line). Its tests are in ``test_server.py`` and
``test_recommend.py`` beside them.
"""

from tests.fakes.openai.items import (
    DEFAULT_MODEL,
    DEFAULT_REPLY_TEXT,
    PARTIAL_TEXT,
    Fault,
    Item,
    JSONReply,
    Reply,
    Responder,
    ToolCallReply,
    item_from_spec,
)
from tests.fakes.openai.log import ReceivedRequest
from tests.fakes.openai.recommend import recommending_responder
from tests.fakes.openai.server import FakeOpenAI

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_REPLY_TEXT",
    "PARTIAL_TEXT",
    "FakeOpenAI",
    "Fault",
    "Item",
    "JSONReply",
    "ReceivedRequest",
    "Reply",
    "Responder",
    "ToolCallReply",
    "item_from_spec",
    "recommending_responder",
]
