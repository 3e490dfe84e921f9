"""Concurrent sync turns of one session, from threads and from processes: seqs stay contiguous and paired."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from llm import services
from tests.llm.contexts import alice
from tests.llm.support import alternating

ROOT = Path(__file__).resolve().parents[2]


def _assert_contiguous_pairs(session_id, n: int) -> None:
    stored = services.messages_list(session_id=session_id)
    assert [(m.seq, m.role) for m in stored] == alternating(n)
    for question, answer in zip(stored[::2], stored[1::2], strict=True):
        assert question.content in answer.content  # the offline provider quotes what it answers


def test_concurrent_turns_from_threads_keep_seqs_contiguous_and_paired(session_id):
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
def test_concurrent_turns_from_processes_keep_seqs_contiguous_and_paired(settings, session_id):
    code = (
        "import sys, uuid\n"
        "from llm import services\n"
        "from tests.llm.contexts import alice\n"
        "for i in range(3):\n"
        "    services.turn_reply(session_id=uuid.UUID(sys.argv[1]), text=f'process {sys.argv[2]} turn {i}',"
        " context=alice())\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "TEST_REDIS_URL": settings.REDIS_URL}
    workers = [
        subprocess.Popen([sys.executable, "-c", code, str(session_id), str(w)], cwd=ROOT, env=env) for w in range(3)
    ]
    for i in range(3):
        services.turn_reply(session_id=session_id, text=f"main turn {i}", context=alice())
    assert [worker.wait(timeout=60) for worker in workers] == [0, 0, 0]
    _assert_contiguous_pairs(session_id, 24)
