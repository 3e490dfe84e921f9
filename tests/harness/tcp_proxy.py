"""A TCP proxy on loopback that forwards to one target and can cut, stall or slow its connections on demand.

Put it between the app and PostgreSQL or Redis (point the app's URL at `proxy.port`) to reproduce network faults
without touching the shared servers themselves::

    with FaultProxy("127.0.0.1", 6379) as proxy:
        client = redis.Redis(port=proxy.port, db=15, socket_timeout=0.5)
        proxy.stall()    # client calls now time out
        proxy.restore()  # and work again

One thread accepts; each connection has one thread per direction. Mode changes are thread-safe and apply at once
to open connections as well as to new ones.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from enum import Enum
from types import TracebackType
from typing import Self

_CHUNK = 64 * 1024
_ACCEPT_POLL_SECONDS = 0.05
_CONNECT_TIMEOUT_SECONDS = 5.0
_JOIN_TIMEOUT_SECONDS = 5.0


class Mode(Enum):
    PASS_THROUGH = "pass_through"
    CUT = "cut"
    STALL = "stall"
    SLOW = "slow"


class FaultProxy:
    """Forwards 127.0.0.1:`port` to `target_host`:`target_port`; see the module docstring."""

    host = "127.0.0.1"

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._state = threading.Condition()
        self._mode = Mode.PASS_THROUGH
        self._delay = 0.0
        self._stopping = False
        self._links: set[_Link] = set()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the proxy is not started")
        return self._port

    @property
    def mode(self) -> Mode:
        return self._mode

    @property
    def open_connections(self) -> int:
        """How many client connections the proxy holds right now."""
        with self._state:
            return len(self._links)

    def start(self) -> Self:
        """Listen on a free loopback port (the same one again after `stop()`) and start accepting."""
        if self._acceptor is not None:
            raise RuntimeError("the proxy is already started")
        listener = socket.create_server((self.host, self._port or 0))
        listener.settimeout(_ACCEPT_POLL_SECONDS)  # so the accept loop notices stop() without a wake-up socket
        self._listener, self._port, self._stopping = listener, listener.getsockname()[1], False
        self._acceptor = threading.Thread(target=self._accept_loop, name=f"fault-proxy-{self._port}", daemon=True)
        self._acceptor.start()
        return self

    def stop(self) -> None:
        """Close every connection and the listener, and wait for every proxy thread to end."""
        with self._state:
            self._stopping = True
            links = list(self._links)
            self._state.notify_all()
        for link in links:
            link.shutdown()
        if self._acceptor is not None:
            self._acceptor.join(_JOIN_TIMEOUT_SECONDS)
        for link in links:
            link.join(_JOIN_TIMEOUT_SECONDS)
        leftover = [t.name for t in [self._acceptor, *(link.thread for link in links)] if t and t.is_alive()]
        self._acceptor = None
        if leftover:
            raise RuntimeError(f"proxy threads did not stop: {leftover}")

    def pass_through(self) -> None:
        """Forward bytes both ways as they come (the initial mode)."""
        self._set_mode(Mode.PASS_THROUGH)

    def restore(self) -> None:
        """Back to pass-through after a fault; held bytes of stalled connections are forwarded."""
        self._set_mode(Mode.PASS_THROUGH)

    def cut(self) -> None:
        """Close every open connection now, and close new ones as soon as they are accepted, until restored."""
        links = self._set_mode(Mode.CUT)
        for link in links:
            link.shutdown()

    def stall(self) -> None:
        """Keep connections open (and accept new ones) but forward nothing, so clients hit their timeouts."""
        self._set_mode(Mode.STALL)

    def slow(self, delay_seconds: float) -> None:
        """Delay each forwarded chunk, in either direction, by `delay_seconds`."""
        if delay_seconds < 0:
            raise ValueError("delay_seconds must not be negative")
        self._set_mode(Mode.SLOW, delay_seconds)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _set_mode(self, mode: Mode, delay: float = 0.0) -> list[_Link]:
        with self._state:
            self._mode, self._delay = mode, delay
            self._state.notify_all()
            return list(self._links)

    def _accept_loop(self) -> None:
        assert self._listener is not None
        with self._listener:
            while not self._stopping:
                try:
                    client, _ = self._listener.accept()
                except TimeoutError:
                    continue
                client.settimeout(None)
                with self._state:
                    if self._stopping or self._mode is Mode.CUT:
                        _abort(client)
                        continue
                    link = _Link(self, client)
                    self._links.add(link)
                link.thread.start()

    def _forget(self, link: _Link) -> None:
        with self._state:
            self._links.discard(link)

    def _wait_to_forward(self, link: _Link) -> float | None:
        """Block while stalled; the delay to apply to the next chunk, or None when the link must close."""
        with self._state:
            self._state.wait_for(lambda: self._stopping or link.closed or self._mode is not Mode.STALL)
            if self._stopping or link.closed or self._mode is Mode.CUT:
                return None
            return self._delay if self._mode is Mode.SLOW else 0.0

    def _sleep(self, link: _Link, seconds: float) -> bool:
        """Sleep up to `seconds`, waking early on cut or stop; False when the link must close."""
        with self._state:
            self._state.wait_for(lambda: self._stopping or link.closed or self._mode is Mode.CUT, timeout=seconds)
            return not (self._stopping or link.closed or self._mode is Mode.CUT)


class _Link:
    """One client connection and its upstream connection, pumped by two threads."""

    def __init__(self, proxy: FaultProxy, client: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream: socket.socket | None = None
        self.closed = False
        self.thread = threading.Thread(target=self._run, name=f"fault-proxy-link-{client.fileno()}", daemon=True)

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)

    def shutdown(self) -> None:
        """Wake both pumps: their blocking reads return at once. The sockets are closed by the link's thread."""
        with self.proxy._state:
            self.closed = True
            self.proxy._state.notify_all()
        for sock in (self.client, self.upstream):
            if sock is not None:
                with contextlib.suppress(OSError):  # already disconnected
                    sock.shutdown(socket.SHUT_RDWR)

    def _run(self) -> None:
        reverse: threading.Thread | None = None
        try:
            # A stalled proxy holds new connections before dialling, as a blackholed network would.
            if self.proxy._wait_to_forward(self) is None:
                return
            try:
                self.upstream = socket.create_connection(self.proxy.target, timeout=_CONNECT_TIMEOUT_SECONDS)
            except OSError:
                return
            self.upstream.settimeout(None)
            if self.closed:  # cut or stopped while dialling: shutdown() could not see this socket yet
                return
            reverse = threading.Thread(
                target=self._pump, args=(self.upstream, self.client), name=f"{self.thread.name}-up", daemon=True
            )
            reverse.start()
            self._pump(self.client, self.upstream)
        finally:
            self.shutdown()
            if reverse is not None:
                reverse.join(_JOIN_TIMEOUT_SECONDS)
            for sock in (self.client, self.upstream):
                if sock is not None:
                    sock.close()
            self.proxy._forget(self)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(_CHUNK)
                if not data:
                    return
                delay = self.proxy._wait_to_forward(self)
                if delay is None or (delay and not self.proxy._sleep(self, delay)):
                    return
                sink.sendall(data)
        except OSError:
            pass  # either side went away; the link closes both
        finally:
            self.shutdown()


def _abort(sock: socket.socket) -> None:
    """Close with a reset, not a graceful FIN: what a client sees when a connection is cut."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
