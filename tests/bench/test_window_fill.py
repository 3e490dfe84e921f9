"""bench.window's fill of a session, against a Redis server of the test's own: a fill whose scripts ran out of order
(another process flushed the server's script cache and loaded one of them again) is detected and done again in a
fresh session, never measured short.

bench.window sets its environment when imported, so it runs in a process of its own here.
"""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.processes, pytest.mark.timeout(120)]

REPO_ROOT = Path(__file__).resolve().parents[2]
# The first fill finds only LOCK_TRY cached: every lock is taken in the first pass, the other scripts run after, one
# by one. The fill must say so; the second, with every script cached again, is whole.
SCRIPT = """
import sys
import redis
from bench import window
from llm.store import scripts

client = window.counting_client(sys.argv[1], window.Wire())
other = redis.Redis.from_url(sys.argv[2])
other.script_flush()
other.script_load(scripts.LOCK_TRY.source)
sessions, retries = [], []
session_id = window.filled_session(client, 10, seed="test", sessions=sessions, retries=retries)
print(len(sessions), client.llen(f"chat:{{{session_id}}}:messages"), client.exists(f"chat:{{{sessions[0]}}}:messages"))
print(retries)
"""


@pytest.fixture(autouse=True)
def _flush_test_redis() -> None:
    """Overrides the suite-wide Redis flush: this test uses a server of its own."""


def test_a_fill_whose_scripts_ran_out_of_order_is_done_again(private_redis, tmp_path):
    url = private_redis.url(db=13)
    completed = subprocess.run(
        [sys.executable, "-c", SCRIPT, url, private_redis.url(db=9)],
        cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin", "BENCH_REDIS_URL": url, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    counts, retries = completed.stdout.splitlines()
    assert counts == "2 10 0"  # a second session, whole; the first one erased
    assert "an exchange answered 0" in retries
