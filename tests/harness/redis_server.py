"""A private `redis-server` on a free loopback port, for tests that stop Redis or flush all of it.

The machine's shared Redis is never stopped or flushed (except db 15, which the test fixtures own); a test that needs
Redis to go away runs the app against one of these instead::

    with PrivateRedis() as server:
        url = server.url(db=0)
        server.stop()   # Redis is down: connections are refused
        server.start()  # back on the same port, empty
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.harness import free_port
from tests.harness.logs import read_log, tail

_START_TIMEOUT_SECONDS = 5.0
_STOP_TIMEOUT_SECONDS = 5.0


class PrivateRedis:
    """A throwaway Redis without persistence. Skips the test when `redis-server` is not installed."""

    host = "127.0.0.1"

    def __init__(self, directory: Path | None = None) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            pytest.skip("redis-server is not on PATH (install the redis-server package to run this test)")
        self._executable = executable
        self._owns_directory = directory is None
        self.directory = Path(tempfile.mkdtemp(prefix="private-redis-")) if directory is None else directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self._process: subprocess.Popen | None = None

    @property
    def log_path(self) -> Path:
        return self.directory / "redis-server.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def url(self, db: int = 0) -> str:
        return f"redis://{self.host}:{self.port}/{db}"

    def start(self) -> Self:
        """Start the server (again, on the same port) and return once it answers PING."""
        if self.running:
            raise RuntimeError("this Redis is already running")
        command = [self._executable, "--port", str(self.port), "--bind", self.host, "--save", "", "--appendonly", "no"]
        command += ["--dir", str(self.directory), "--daemonize", "no"]
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self._wait_until_ready()
        return self

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after a bound); new connections are refused until `start()`."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(_STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(_STOP_TIMEOUT_SECONDS)

    def close(self) -> None:
        """Stop the server and remove its directory if this object created it."""
        self.stop()
        if self._owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def flushall(self) -> None:
        with self._client() as client:
            client.flushall()

    def log_text(self) -> str:
        return read_log(self.log_path)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _client(self) -> redis.Redis:
        # No retries: redis-py retries refused connections ten times by default, which would blur the start-up wait.
        return redis.Redis(
            host=self.host, port=self.port, socket_connect_timeout=0.5, socket_timeout=1.0, retry=Retry(NoBackoff(), 0)
        )

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_SECONDS
        with self._client() as client:
            while True:
                assert self._process is not None
                if self._process.poll() is not None:
                    self._process = None
                    raise RuntimeError(f"redis-server exited at start:\n{tail(self.log_text())}")
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        self.stop()
                        raise RuntimeError(f"redis-server did not answer PING:\n{tail(self.log_text())}") from None
                    time.sleep(0.02)
