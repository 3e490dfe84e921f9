"""The README's deployment command: gunicorn with config/gunicorn.py, uvicorn workers forked from a master that loaded
the app and built the tokenizer, so that the workers share those pages (one tokenizer per host)."""

import re
from pathlib import Path

from tests.harness.app_server import PROJECT_ROOT, GunicornServer

COMMAND = "gunicorn config.asgi:application -c config/gunicorn.py"
LOADED = "tokenizer loaded before the workers fork"


def _shared_mb(pid: int) -> float:
    """Pages of `pid` that another process maps too (smaps_rollup: Shared_Clean + Shared_Dirty)."""
    text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    return sum(int(n) for n in re.findall(r"^Shared_(?:Clean|Dirty):\s+(\d+) kB", text, re.M)) / 1024


def test_the_readme_deploys_with_gunicorn_and_config_gunicorn():
    assert COMMAND in (PROJECT_ROOT / "README.md").read_text()


def test_workers_fork_after_the_tokenizer_is_built_and_share_it(app_server_factory):
    server = app_server_factory(server=GunicornServer)
    log = server.log_text()
    assert LOADED in log
    assert log.index(LOADED) < log.index("Booting worker with pid")
    assert server.get("/healthz").status == 200
    # The app and the tokenizer (about 80 MB of it) are pages the master built: every worker still shares them. A
    # worker that built its own (a spawned uvicorn worker) shares little beyond the interpreter's libraries.
    for pid in server.worker_pids():
        assert _shared_mb(pid) > 100, pid
