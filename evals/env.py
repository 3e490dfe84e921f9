"""What the evaluation runs on: its own PostgreSQL database and Redis index, the app under uvicorn (as `make run`
serves it, production settings), the fake OpenAI server in a process of its own, and a small HTTP client for the API
(JSON turns and Server-Sent Events).

The eval owns the database `chatbot_eval` (EVAL_DATABASE_URL) and the Redis index 12 (EVAL_REDIS_URL): it drops and
recreates the one and flushes the other, so it refuses the developer's index 0 and the tests' index (15, or
TEST_REDIS_URL's) and any database whose name does not start with `chatbot_eval`.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = PROJECT_ROOT / "evals" / "results"
DATABASE_URL = os.environ.get("EVAL_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/chatbot_eval")
REDIS_URL = os.environ.get("EVAL_REDIS_URL", "redis://127.0.0.1:6379/12")
SECRET_KEY = "eval-secret-key-for-evaluation-processes-only-0123456789abcdef"
REQUEST_TIMEOUT = 60.0


def _redis_db(url: str) -> int:
    return int(urlsplit(url).path.lstrip("/") or 0)


def check_targets() -> None:
    """Refuse to drop or flush anything the eval does not own."""
    forbidden = {0: "the developer's", 15: "the tests'"}
    if os.environ.get("TEST_REDIS_URL"):
        forbidden[_redis_db(os.environ["TEST_REDIS_URL"])] = "the tests'"
    if _redis_db(REDIS_URL) in forbidden:
        raise SystemExit(f"EVAL_REDIS_URL must not use {forbidden[_redis_db(REDIS_URL)]} Redis database")
    if not urlsplit(DATABASE_URL).path.lstrip("/").startswith("chatbot_eval"):
        raise SystemExit("EVAL_DATABASE_URL must name a database starting with chatbot_eval (it is dropped)")


def _admin(statement: str) -> None:
    admin_url = urlunsplit(urlsplit(DATABASE_URL)._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as admin:
        admin.execute(statement)


def flush_redis() -> None:
    check_targets()
    with redis.Redis.from_url(REDIS_URL, socket_timeout=5) as client:
        client.flushdb()


def django_env(**overrides: str) -> dict[str, str]:
    """A Django process of the eval: production settings on the eval's database and Redis index, no `.env` file,
    unthrottled, the offline provider unless overrides name a model."""
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(Path.home()),
        "PYTHONUNBUFFERED": "1",
        "ENV_FILE": "",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECRET_KEY": SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "warning",
        "THROTTLE_TURNS_PER_MINUTE": "100000",
        "THROTTLE_REQUESTS_PER_MINUTE": "0",
        "DAILY_TOKEN_QUOTA": "1000000000",
        "CHAT_MAX_OPEN_SESSIONS": "1000",  # one session per request, for both labelled sets
    }
    env.update(overrides)
    return env


def manage(*args: str) -> str:
    completed = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_ROOT,
        env=django_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if completed.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{completed.stderr[-4000:]}")
    return completed.stdout


@contextlib.contextmanager
def prepared_database() -> Iterator[dict[str, str]]:
    """A fresh eval database, migrated and seeded with `seed_demo` (demo customers and catalog); the demo customers'
    tokens by username. Dropped, and the Redis index flushed, at the end."""
    check_targets()
    name = urlsplit(DATABASE_URL).path.lstrip("/")
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _admin(f'CREATE DATABASE "{name}"')
    try:
        flush_redis()
        manage("migrate", "--noinput")
        seeded = json.loads(manage("seed_demo", "--json"))
        yield {row["username"]: row["token"] for row in seeded}
    finally:
        flush_redis()
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- processes -------------------------------------------------------------------------------------------


def _stop(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


@contextlib.contextmanager
def app_server(log_path: Path | None = None, **env_overrides: str) -> Iterator[Api]:
    """The app under uvicorn, one worker, as `make run` serves it; its API client once /healthz answers. Its log is
    kept in `log_path` when given (JSON lines: no message text, as always), else dropped."""
    port = _free_port()
    command = [
        str(Path(sys.executable).with_name("uvicorn")),
        "config.asgi:application",
        *("--host", "127.0.0.1", "--port", str(port)),
        *("--no-access-log", "--lifespan", "off", "--log-level", "warning"),
    ]
    with log_path.open("w+") if log_path else tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=django_env(**env_overrides),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            api = Api(port)
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"the app server did not start:\n{log.read()[-4000:]}")
                with contextlib.suppress(OSError):
                    if api.call("GET", "/healthz").status == 200:
                        break
                time.sleep(0.2)
            yield api
        finally:
            _stop(process)


class FakeModel:
    """`python -m tests.fakes.openai` in a process of its own, scripted and read through its control API."""

    def __init__(self) -> None:
        self._process: subprocess.Popen | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> FakeModel:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.openai", "--port", "0"],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline().strip()
        if not line.startswith("PORT="):
            self.__exit__()
            raise RuntimeError(f"the fake model server did not start: {line!r}")
        self.port = int(line.removeprefix("PORT="))
        return self

    def __exit__(self, *exc_info: object) -> None:
        process, self._process = self._process, None
        if process is not None:
            _stop(process)
            if process.stdout is not None:
                process.stdout.close()

    def reset(self) -> None:
        self._control("POST", "/_fake/reset")

    def script(self, *specs: Mapping[str, Any]) -> None:
        self._control("POST", "/_fake/script", list(specs))

    def requests(self) -> list[dict[str, Any]]:
        return self._control("GET", "/_fake/requests")

    def _control(self, method: str, path: str, payload: object = None) -> Any:
        response = Api(self.port).call(method, path, payload)
        if response.status != 200:
            raise RuntimeError(f"fake server control {method} {path}: {response.status} {response.body[:200]!r}")
        return response.json()


# --- the API over HTTP -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Turn:
    """What one send answered: the turn (JSON body, or the SSE `done` event's), the streamed text, the error."""

    status: int
    turn: dict[str, Any] | None
    streamed_text: str = ""
    error: Any = None
    events: list[str] = field(default_factory=list)
    first_delta_seconds: float | None = None  # over SSE: from sending to the first delta event

    @property
    def reply_text(self) -> str:
        message = (self.turn or {}).get("assistant_message") or {}
        return str(message.get("content") or "")

    @property
    def cards(self) -> list[dict[str, Any]]:
        """The turn's `recommendations` (at the turn's top level, or in its assistant message)."""
        turn = self.turn or {}
        found = turn.get("recommendations")
        if found is None:
            found = (turn.get("assistant_message") or {}).get("recommendations")
        return list(found or [])


class Api:
    host = "127.0.0.1"

    def __init__(self, port: int, token: str = "", timeout: float = REQUEST_TIMEOUT) -> None:
        self.port = port
        self.token = token
        self.timeout = timeout  # seconds a request may take (a model on a CPU answers slowly)

    def as_customer(self, token: str) -> Api:
        return Api(self.port, token, self.timeout)

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        headers.update(extra or {})
        return headers

    def call(self, method: str, path: str, payload: object = None) -> Response:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            body = None if payload is None else json.dumps(payload)
            conn.request(method, path, body=body, headers=self._headers())
            response = conn.getresponse()
            return Response(response.status, response.read())
        finally:
            conn.close()

    def me(self) -> dict[str, Any]:
        response = self.call("GET", "/api/v1/me")
        assert response.status == 200, response.body
        return response.json()

    def open_session(self) -> str:
        response = self.call("POST", "/api/v1/sessions", {})
        assert response.status == 201, response.body
        return response.json()["id"]

    def send(self, session_id: str, content: str, *, stream: bool = False) -> Turn:
        path = f"/api/v1/sessions/{session_id}/messages"
        if not stream:
            response = self.call("POST", path, {"content": content})
            data = response.json() if response.body else None
            ok = response.status in (200, 201)
            return Turn(response.status, data if ok else None, error=None if ok else data)
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        began = time.monotonic()
        try:
            conn.request(
                "POST",
                path,
                body=json.dumps({"content": content}),
                headers=self._headers({"Accept": "text/event-stream"}),
            )
            response = conn.getresponse()
            if response.status != 200:
                return Turn(response.status, None, error=response.read().decode(errors="replace"))
            return _read_events(response, began)
        finally:
            conn.close()

    def rate(self, recommendation_id: str, rating: str) -> Response:
        return self.call("POST", f"/api/v1/recommendations/{recommendation_id}/feedback", {"rating": rating})

    def proposals_decline(self) -> int:
        """Decline every pending profile proposal (as the customer would, in the API); how many there were."""
        proposals = self.me().get("proposals", [])
        for proposal in proposals:
            response = self.call("POST", f"/api/v1/me/proposals/{proposal['id']}/decline")
            assert response.status == 200, response.body
        return len(proposals)


def _read_events(response: http.client.HTTPResponse, began: float) -> Turn:
    turn = Turn(200, None)
    event, data = "", []
    for raw in response:
        line = raw.decode("utf-8").rstrip("\r\n")
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())
        elif not line and (event or data):
            payload = json.loads("\n".join(data)) if data else None
            turn.events.append(event)
            if event == "delta" and isinstance(payload, dict):
                if turn.first_delta_seconds is None:
                    turn.first_delta_seconds = round(time.monotonic() - began, 3)
                turn.streamed_text += str(payload.get("text", ""))
            elif event == "done":
                turn.turn = payload
            elif event == "error":
                turn.error = payload
            event, data = "", []
    return turn
