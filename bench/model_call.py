"""The app's CPU per model call, through the SDK's resource methods (as llm/client.py called the model before) and
through llm.transport (as it does now), measured in the same run against the fake server in a process of its own.

- one completion with a 40-message window (the SDK walks the body against its TypedDicts before sending it);
- one stream of 200 chunks (the SDK builds a pydantic ChatCompletionChunk from every one).

CPU is this process's (time.process_time), per call, median of 7 rounds of 30 calls after a warm-up; the fake
server's CPU is not in it. No target of its own: it shows what item 1 of the second performance pass removed, before
and after in one run (what remains of a stream's CPU is httpx2, httpcore2 and h11 reading each chunk).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from dataclasses import replace
from typing import Any

from bench import common

WINDOW_MESSAGES = 40
STREAM_CHUNKS = 200
CALLS, ROUNDS = 30, 7


def _settings(base_url: str) -> Any:
    from llm.conf import LLMSettings

    return LLMSettings(
        redis_url="redis://127.0.0.1:6379/13",
        redis_connect_timeout=0.5,
        redis_socket_timeout=1.0,
        api_key="bench",
        base_url=base_url,
        model="gpt-4o-mini",
        connect_timeout=5.0,
        read_timeout=30.0,
        max_retries=0,
        max_retry_after=1.0,
        context_budget=30000,
        reply_reserve=512,
        chat_ttl_seconds=3600,
        mood_ttl_seconds=3600,
        max_stored_messages=200,
        turn_lock_ttl_seconds=10,
        turn_lock_wait_seconds=10,
        turn_deadline_seconds=60,
        turns_per_minute=20,
        requests_per_minute=120,
        daily_token_quota=200_000,
        recommendations_max=3,
        stream_coalesce_seconds=0.0,
        structured_output="auto",
    )


def _window() -> tuple[dict[str, str], ...]:
    system = {"role": "system", "content": "You recommend dishes to a customer. " * 20}
    turns = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"Message {i}: any dinner ideas near the station?"}
        for i in range(WINDOW_MESSAGES - 1)
    ]
    return (system, *turns)


def _cpu_per_call(call: Any) -> float:
    """Median over the rounds of this process's CPU seconds per call."""
    for _ in range(5):
        call()
    rounds = []
    for _ in range(ROUNDS):
        started = time.process_time()
        for _ in range(CALLS):
            call()
        rounds.append((time.process_time() - started) / CALLS)
    return statistics.median(rounds)


def run(fake: common.FakeModelServer) -> dict[str, Any]:
    from llm import client as llm_client
    from llm.client import OpenAIProvider, request_body
    from llm.providers import ModelRequest

    cfg = _settings(fake.base_url)
    provider = OpenAIProvider(cfg)
    endpoint = llm_client._Endpoint.of(cfg)
    complete_request = ModelRequest(messages=_window(), purpose="summary", max_tokens=64)
    stream_request = replace(complete_request, messages=complete_request.messages[:2])
    sdk = llm_client._sync_client(endpoint)

    def sdk_complete() -> None:
        response = sdk.chat.completions.create(**request_body(cfg, complete_request, stream=False))
        assert response.choices[0].message.content

    def transport_complete() -> None:
        assert provider.complete(complete_request).text

    loop = asyncio.new_event_loop()

    async def sdk_stream_async() -> None:
        client = llm_client._async_client(endpoint)
        stream = await client.chat.completions.create(**request_body(cfg, stream_request, stream=True))
        pieces = 0
        async with stream:
            async for chunk in stream:
                for choice in chunk.choices:
                    pieces += bool(choice.delta.content)
        assert pieces >= STREAM_CHUNKS - 1

    async def transport_stream_async() -> None:
        pieces = 0
        async for item in provider.astream(stream_request):
            pieces += isinstance(item, str)
        assert pieces >= STREAM_CHUNKS - 1

    rows = {}
    fake.configure()
    rows["complete"] = {"sdk": _cpu_per_call(sdk_complete), "transport": _cpu_per_call(transport_complete)}
    # 200 chunks as fast as the fake server writes them.
    fake.configure(tokens_per_second=STREAM_CHUNKS * 20, duration=1 / 20)
    rows["stream"] = {
        "sdk": _cpu_per_call(lambda: loop.run_until_complete(sdk_stream_async())),
        "transport": _cpu_per_call(lambda: loop.run_until_complete(transport_stream_async())),
    }
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
    result: dict[str, Any] = {"window_messages": WINDOW_MESSAGES, "stream_chunks": STREAM_CHUNKS, "rows": {}}
    for name, row in rows.items():
        ratio = row["transport"] / row["sdk"]
        result["rows"][name] = {
            "sdk_ms": round(row["sdk"] * 1000, 3),
            "transport_ms": round(row["transport"] * 1000, 3),
            "ratio": round(ratio, 3),
        }
    result["load_average"] = common.load_average()
    return result


def main() -> int:
    common.setup_django(LOG_LEVEL="warning")
    with common.FakeModelServer() as fake:
        result = run(fake)
    path = common.write_result("model_call", result)
    load = result["load_average"]
    print(f"app CPU per model call (this process), SDK resource methods vs llm.transport; load average {load}")
    for name, row in result["rows"].items():
        print(
            f"  {name:<9} SDK {row['sdk_ms']:8.3f} ms   transport {row['transport_ms']:8.3f} ms   {row['ratio']:.3f}x"
        )
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
