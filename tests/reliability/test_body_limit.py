"""Request bodies over the limit, sent as raw HTTP to the app under uvicorn without any credentials.

Django's ASGI handler reads a whole body (spooling it to disk) before any middleware or authentication runs, so the
limit (DATA_UPLOAD_MAX_MEMORY_SIZE) is enforced in front of it: a body declared larger by its `Content-Length` is
refused before a byte of it is read, and a chunked body as soon as what arrived passes the limit. Either way the
answer is a 413 problem sent while the client is still sending, and the server stops reading and closes the
connection: the rest of the body is never read.
"""

import json
import socket
import time

import pytest
from django.conf import settings

from tests.harness.logs import json_lines
from tests.reliability.fault_support import PROBLEM_CONTENT_TYPE, PROBLEM_KEYS, Customer

pytestmark = [pytest.mark.processes, pytest.mark.timeout(60)]

LIMIT = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
SESSION_PATH = "/api/v1/sessions/0b9c5a4e-2f6d-4c8e-9a1b-3d5e7f9a1c2e/messages"
CHUNK = 64 * 1024
ANSWER_SECONDS = 5.0  # today's server would wait for the rest of the body: this bound is what fails it
# Far more than the kernel's socket buffers hold: a server that kept reading (and discarding) would take it all.
FLOOD_BYTES = 64 * 1024 * 1024


@pytest.fixture
def app(app_server_factory):
    return app_server_factory(workers=1)


def connect(app) -> socket.socket:
    sock = socket.create_connection((app.host, app.port), timeout=ANSWER_SECONDS)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def head(method: str, path: str, *headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names) and body of one response with a Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        received = sock.recv(65536)
        assert received, f"connection closed before a response: {data!r}"
        data += received
    header_block, body = data.split(b"\r\n\r\n", 1)
    status_line, *header_lines = header_block.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, value in (h.split(":", 1) for h in header_lines)}
    while len(body) < int(headers["content-length"]):
        received = sock.recv(65536)
        assert received, "connection closed inside the response body"
        body += received
    return int(status_line.split()[1]), headers, body


def assert_too_large(status: int, headers: dict[str, str], body: bytes) -> None:
    assert status == 413, body
    assert headers["content-type"] == PROBLEM_CONTENT_TYPE, headers
    problem = json.loads(body)
    assert set(problem) >= PROBLEM_KEYS, problem
    assert (problem["status"], problem["code"]) == (413, "message_too_long"), problem
    assert str(LIMIT) in problem["detail"]
    assert headers.get("connection") == "close", headers


def assert_stops_reading(sock: socket.socket) -> None:
    """The server closed the connection: more body bytes are refused (reset) long before FLOOD_BYTES are taken."""
    sent = 0
    try:
        while sent < FLOOD_BYTES:
            sent += sock.send(b"0" * CHUNK)
    except (BrokenPipeError, ConnectionResetError):
        return
    pytest.fail(f"the server took {sent} more bytes after refusing the body")


def test_a_declared_content_length_over_the_limit_is_refused_before_the_body_is_read(app):
    with connect(app) as sock:
        started = time.monotonic()
        sock.sendall(head("POST", SESSION_PATH, f"Content-Length: {10**10}"))  # 10 GB declared, none sent
        assert_too_large(*read_response(sock))
        assert time.monotonic() - started < ANSWER_SECONDS
        assert_stops_reading(sock)
    refused = [r for r in json_lines(app.log_text()) if r.get("event") == "request body too large"]
    assert [(r["method"], r["path"], r["limit"]) for r in refused] == [("POST", SESSION_PATH, LIMIT)]


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(app):
    with connect(app) as sock:
        sock.sendall(head("POST", SESSION_PATH, "Transfer-Encoding: chunked"))
        for _ in range(LIMIT // CHUNK + 1):  # just over the limit; the final zero-length chunk never comes
            sock.sendall(chunk(b"x" * CHUNK))
        assert_too_large(*read_response(sock))
        assert_stops_reading(sock)
    assert app.get("/healthz").status == 200  # the worker is fine


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_body_within_the_limit_still_reaches_the_api(app, alice, framing):
    body = json.dumps({"title": "x" * 100}).encode()
    framed = [f"Content-Length: {len(body)}"] if framing == "content-length" else ["Transfer-Encoding: chunked"]
    with connect(app) as sock:
        sock.sendall(head("POST", "/api/v1/sessions", f"Authorization: Token {alice.token}", *framed))
        if framing == "content-length":
            sock.sendall(body)
        else:
            sock.sendall(chunk(body[:50]) + chunk(body[50:]) + b"0\r\n\r\n")
        status, _, answer = read_response(sock)
    assert status == 201, answer
    assert Customer(app, alice).session(json.loads(answer)["id"]).status == 200
