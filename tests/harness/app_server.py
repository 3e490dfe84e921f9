"""The app served by uvicorn in separate processes, as in production, for the reliability suite and the benchmarks.

    with AppServer({"DATABASE_URL": database_url_for_tests(), "REDIS_URL": "redis://127.0.0.1:6379/15"}) as app:
        assert app.get("/healthz").status == 200
        app.kill_worker(app.worker_pids()[0])  # the uvicorn master starts a replacement
        app.wait_for_workers()

Each server gets an environment built from scratch (nothing leaks in from the test process), its own free port, and
one log file holding what the master and every worker wrote to stdout and stderr.

With `--workers N > 1` uvicorn 0.54 supervises its workers: every half second it checks them, and one that died (or
stops answering its health ping for 5 s) is reaped and replaced by a fresh process ("Child process [pid] died" in the
log). It stops the whole server only when a worker fails before it starts serving (exit code 3, e.g. the app cannot
be imported). With one worker there is no supervisor: the master serves requests itself.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

from django.db import connection

from tests.harness import free_port
from tests.harness.logs import read_log, tail

PROJECT_ROOT = Path(__file__).resolve().parents[2]
_SECRET_KEY = "harness-secret-key-for-test-processes-only-0123456789abcdef"
_POLL_SECONDS = 0.1
_KILL_WAIT_SECONDS = 5.0


class AppServerError(RuntimeError):
    """The server did not start, or did not reach the expected state in time; the message ends with its log."""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class AppServer:
    """`uvicorn config.asgi:application --workers N` from this venv, in its own process group."""

    host = "127.0.0.1"

    def __init__(
        self,
        env: Mapping[str, str],
        workers: int = 2,
        port: int | None = None,
        *,
        log_dir: Path | None = None,
        startup_timeout: float = 20.0,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers
        self.port = port or free_port()
        self.startup_timeout = startup_timeout
        self.env = {
            "PATH": os.environ.get("PATH", os.defpath),
            "HOME": str(Path.home()),
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "ENV_FILE": "",  # a developer's `.env` must not reach the server
            "DEBUG": "false",
            "SECRET_KEY": _SECRET_KEY,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "false",
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "info",
            **env,
        }
        self._owns_log_dir = log_dir is None
        self.log_dir = Path(tempfile.mkdtemp(prefix="app-server-")) if log_dir is None else log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.log_dir / "uvicorn.log"
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        """The uvicorn master's pid."""
        if self._process is None:
            raise RuntimeError("the app server is not started")
        return self._process.pid

    def start(self) -> Self:
        """Start uvicorn; return once /healthz answers 200 and every worker has loaded the app."""
        if self._process is not None:
            raise RuntimeError("the app server is already started")
        _collect_static(tuple(sorted(self.env.items())))
        command = self.command()
        # Appending: the master and every worker share this file and must not overwrite each other's lines.
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # one process group: stop() can reap workers that outlive the master
            )
        deadline = time.monotonic() + self.startup_timeout
        try:
            self._wait_for_health(deadline)
            self.wait_for_workers(timeout=max(deadline - time.monotonic(), 0.0))
        except BaseException:
            self.stop()
            raise
        return self

    def command(self) -> list[str]:
        """The server's command line (a subclass may serve the app another way)."""
        command = [sys.executable, "-m", "uvicorn", "config.asgi:application", "--workers", str(self.workers)]
        return [*command, "--no-access-log", "--host", self.host, "--port", str(self.port)]

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to the master (a graceful shutdown), then SIGKILL to the whole process group after `timeout`."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout)
        with contextlib.suppress(ProcessLookupError):  # nothing is left
            os.killpg(process.pid, signal.SIGKILL)  # workers that outlived the master, multiprocessing's tracker
        process.wait(_KILL_WAIT_SECONDS)

    def close(self) -> None:
        """Stop the server and remove its log directory if this object created it."""
        self.stop()
        if self._owns_log_dir:
            shutil.rmtree(self.log_dir, ignore_errors=True)

    def worker_pids(self) -> list[int]:
        """The pids of the live worker processes (the master's pid when there is a single worker)."""
        if self.workers == 1:
            return [self.pid] if self._process is not None and self._process.poll() is None else []
        return _spawned_children(self.pid)

    def wait_for_workers(self, timeout: float = 20.0) -> list[int]:
        """Wait until all `workers` workers are alive and have loaded the app (e.g. after one was killed)."""
        deadline = time.monotonic() + timeout
        while True:
            self._check_running()
            pids = self.worker_pids()
            log = self.log_text()
            if len(pids) == self.workers and all(self.worker_started(pid, log) for pid in pids):
                return pids
            if time.monotonic() > deadline:
                raise AppServerError(f"expected {self.workers} started workers, have {pids}:\n{tail(log)}")
            time.sleep(_POLL_SECONDS)

    def worker_started(self, pid: int, log: str) -> bool:
        """Whether worker `pid` says in the log that it serves."""
        return f"Started server process [{pid}]" in log

    def kill_worker(self, pid: int) -> None:
        """SIGKILL one of this server's workers, as the kernel's OOM killer would; return once it is dead."""
        if pid not in self.worker_pids():
            raise ValueError(f"{pid} is not a worker of this app server")
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + _KILL_WAIT_SECONDS
        while pid in self.worker_pids():  # a zombie until the master reaps it, which no longer counts
            if time.monotonic() > deadline:
                raise AppServerError(f"worker {pid} survived SIGKILL")
            time.sleep(0.01)

    def log_text(self) -> str:
        """Everything the master and the workers logged so far."""
        return read_log(self.log_path)

    def request(
        self,
        method: str,
        path: str,
        *,
        payload: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> HttpResponse:
        """One HTTP request on a fresh connection; `payload` is sent as a JSON body."""
        headers = dict(headers or {})
        body = None
        if payload is not None:
            body = json.dumps(payload).encode()
            headers.setdefault("Content-Type", "application/json")
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return HttpResponse(
                status=response.status,
                headers={name.lower(): value for name, value in response.getheaders()},
                body=response.read(),
            )
        finally:
            conn.close()

    def get(self, path: str, **kwargs: Any) -> HttpResponse:
        return self.request("GET", path, **kwargs)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _check_running(self) -> None:
        if self._process is None:
            raise AppServerError("the app server is not started")
        if self._process.poll() is not None:
            raise AppServerError(f"uvicorn exited with {self._process.returncode}:\n{tail(self.log_text())}")

    def _wait_for_health(self, deadline: float) -> None:
        while True:
            self._check_running()
            try:
                if self.get("/healthz", timeout=1.0).status == 200:
                    return
            except OSError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                log = tail(self.log_text())
                raise AppServerError(f"/healthz did not answer 200 in {self.startup_timeout}s:\n{log}")
            time.sleep(_POLL_SECONDS)


class GunicornServer(AppServer):
    """The README's deployment: gunicorn with config/gunicorn.py (uvicorn workers forked from a master that loaded
    the app and the tokenizer); with `wsgi_threads`, gunicorn's threaded WSGI workers instead (config.wsgi, for the
    JSON endpoints: a streamed reply would hold a thread)."""

    def __init__(self, env: Mapping[str, str], workers: int = 2, *, wsgi_threads: int = 0, **kwargs: Any) -> None:
        super().__init__(env, workers, **kwargs)
        self.wsgi_threads = wsgi_threads

    def command(self) -> list[str]:
        bind = ["--bind", f"{self.host}:{self.port}", "--workers", str(self.workers)]
        if not self.wsgi_threads:
            return [sys.executable, "-m", "gunicorn", "config.asgi:application", "-c", "config/gunicorn.py", *bind]
        threads = ["--worker-class", "gthread", "--threads", str(self.wsgi_threads), "--preload"]
        return [sys.executable, "-m", "gunicorn", "config.wsgi:application", *threads, *bind, "--no-control-socket"]

    def worker_pids(self) -> list[int]:
        """The live workers the master forked (gunicorn's master never serves requests itself)."""
        return _children(self.pid) if self._process is not None and self._process.poll() is None else []

    def worker_started(self, pid: int, log: str) -> bool:
        return f"Booting worker with pid: {pid}" in log


@functools.cache
def _collect_static(env: tuple[tuple[str, str], ...]) -> None:
    """As a deployment does before serving: with DEBUG off, static files come from the collected manifest."""
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=PROJECT_ROOT,
        env=dict(env),
        check=True,
        timeout=120,
    )


def database_address() -> tuple[str, int]:
    """Host and port of the database the tests use (a FaultProxy in front of it targets these)."""
    settings = connection.settings_dict
    return settings["HOST"] or "127.0.0.1", int(settings["PORT"] or 5432)


def database_url_for_tests(*, host: str | None = None, port: int | None = None) -> str:
    """A postgres:// URL of pytest-django's test database (e.g. test_chatbot), optionally via another host/port.

    Call it inside a test with `transactional_db`: only then is the database set up and what the test writes
    committed, hence visible to the server processes.
    """
    settings = connection.settings_dict
    name = settings["NAME"]
    if not str(name).startswith("test"):
        raise RuntimeError(f"{name!r} is not a test database: call this from a test with transactional_db")
    default_host, default_port = database_address()
    credentials = quote(settings["USER"] or "", safe="")
    if settings["PASSWORD"]:
        credentials += ":" + quote(settings["PASSWORD"], safe="")
    netloc = f"{credentials}@" if credentials else ""
    netloc += f"{quote(host or default_host, safe='')}:{port or default_port}"
    return f"postgres://{netloc}/{quote(str(name), safe='')}"


def _children(parent: int) -> list[int]:
    """Live children of `parent`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                state, ppid = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
                if int(ppid) == parent and state != "Z":
                    pids.append(int(entry.name))
    return sorted(pids)


def _spawned_children(parent: int) -> list[int]:
    """Live children of `parent` started by multiprocessing's spawn (uvicorn's workers, not its resource tracker)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # exited while we looked
        # The command name (field 2) may hold spaces or parentheses; the fields after its closing one are fixed.
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == parent and state != "Z" and b"spawn_main" in cmdline:
            pids.append(int(entry.name))
    return sorted(pids)
