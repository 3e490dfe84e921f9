"""`python -m tests.fakes.openai`: the fake in a process of its own (benchmarks, other processes' tests)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterable
from types import FrameType

from tests.fakes.openai.items import DEFAULT_MODEL
from tests.fakes.openai.recommend import recommending_responder
from tests.fakes.openai.server import FakeOpenAI
from tests.fakes.openai.wire import REFUSALS


def main(argv: Iterable[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT, after printing ``PORT=<n>`` on a line of its own."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.openai", description="An OpenAI-compatible fake server."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before answering any request")
    parser.add_argument("--stream-tokens-per-second", type=float, default=None)
    parser.add_argument("--stream-duration", type=float, default=None, help="seconds a streamed reply lasts")
    parser.add_argument(
        "--recommend",
        action="store_true",
        help="answer reply requests as a grounded model: the structured reply proposing the first two candidates",
    )
    parser.add_argument("--model", action="append", dest="models", help="model name for GET /v1/models (repeatable)")
    parser.add_argument(
        "--refuse",
        choices=sorted(REFUSALS),
        help="refuse requests with that response_format as real servers do (json_schema: as llama-cpp-python's)",
    )
    parser.add_argument(
        "--no-stream-usage",
        dest="stream_usage",
        action="store_false",
        help="send no usage in streams, whatever stream_options asks (as llama-cpp-python's server)",
    )
    args = parser.parse_args(None if argv is None else list(argv))

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    fake = FakeOpenAI(
        args.host,
        args.port,
        models=args.models or (DEFAULT_MODEL,),
        latency=args.latency,
        stream_tokens_per_second=args.stream_tokens_per_second,
        stream_duration=args.stream_duration,
        responder=recommending_responder if args.recommend else None,
        refuse=args.refuse,
        stream_usage=args.stream_usage,
    )
    with fake:
        print(f"PORT={fake.port}", flush=True)
        while not stop.wait(0.5):  # a timed wait keeps the main thread responsive to signals
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
