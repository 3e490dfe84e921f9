"""Concurrent sync turns of one session, from threads and from processes: seqs stay contiguous and paired."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from llm import services
from tests.llm.contexts import alice
from tests.llm.support import alternating, reply

ROOT = Path(__file__).resolve().parents[2]


def _echo(body):
    """The model answers with the message it answers, so that a pair can be checked."""
    asked = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
    return reply(f"re: {asked}")


def _assert_contiguous_pairs(session_id, n: int) -> None:
    stored = services.messages_list(session_id=session_id)
    assert [(m.seq, m.role) for m in stored] == alternating(n)
    for question, answer in zip(stored[::2], stored[1::2], strict=True):
        assert answer.content == f"re: {question.content}"


def test_concurrent_turns_from_threads_keep_seqs_contiguous_and_paired(fake_openai, session_id):
    fake_openai.set_responder(_echo)

    def turns(worker: int) -> None:
        for i in range(3):
            services.turn_reply(session_id=session_id, text=f"thread {worker} turn {i}", context=alice())

    threads = [threading.Thread(target=turns, args=(w,)) for w in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    _assert_contiguous_pairs(session_id, 30)


@pytest.mark.processes
def test_concurrent_turns_from_processes_keep_seqs_contiguous_and_paired(settings, fake_openai, session_id):
    fake_openai.set_responder(_echo)
    code = (
        "import sys, uuid\n"
        "from django.conf import settings\n"
        "from llm import services\n"
        "settings.OPENAI_BASE_URL, settings.OPENAI_API_KEY = sys.argv[3], 'test-key'\n"
        "from tests.llm.contexts import alice\n"
        "for i in range(3):\n"
        "    services.turn_reply(session_id=uuid.UUID(sys.argv[1]), text=f'process {sys.argv[2]} turn {i}',"
        " context=alice())\n"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "TEST_REDIS_URL": settings.REDIS_URL,
    }
    workers = [
        subprocess.Popen([sys.executable, "-c", code, str(session_id), str(w), fake_openai.base_url], cwd=ROOT, env=env)
        for w in range(3)
    ]
    for i in range(3):
        services.turn_reply(session_id=session_id, text=f"main turn {i}", context=alice())
    assert [worker.wait(timeout=60) for worker in workers] == [0, 0, 0]
    _assert_contiguous_pairs(session_id, 24)
