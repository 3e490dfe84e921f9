"""Process-level test harness: the app under a real ASGI server, a private Redis, and a TCP fault proxy."""

import socket


def free_port() -> int:
    """A loopback TCP port that was free a moment ago (the caller binds it soon after)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
