"""`X-Forwarded-Proto` is a claim anyone can send: the app under uvicorn (DEBUG off, SECURE_SSL_REDIRECT on) trusts it
only when SECURE_PROXY_SSL_HEADER says that a proxy in front sets it. Trusted when no proxy sets it, a client on plain
HTTP could pass for HTTPS: no redirect to HTTPS, and a request Django takes for secure.

uvicorn itself applies X-Forwarded-* from the addresses in FORWARDED_ALLOW_IPS (by default loopback, where this test's
client is): the servers here trust another address only, so that the test client is what a remote client would be.
"""

import pytest

pytestmark = [pytest.mark.processes, pytest.mark.timeout(60)]

PATH = "/api/v1/me"
CLAIM = {"X-Forwarded-Proto": "https"}
NOT_US = {"FORWARDED_ALLOW_IPS": "192.0.2.1"}  # a proxy address that is not the test client's (TEST-NET-1)


def test_without_the_setting_a_forwarded_proto_header_is_not_trusted(app_server_factory):
    app = app_server_factory({"SECURE_SSL_REDIRECT": "true", **NOT_US}, workers=1)
    for headers in ({}, CLAIM):
        response = app.get(PATH, headers=headers)
        assert response.status == 301, (headers, response.status, response.body)
        assert response.headers["location"] == f"https://{app.host}:{app.port}{PATH}"
    assert app.get("/readyz", headers=CLAIM).status == 200  # the probes stay on plain HTTP


def test_with_the_setting_the_proxys_header_is_trusted(app_server_factory):
    app = app_server_factory(
        {"SECURE_SSL_REDIRECT": "true", "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto", **NOT_US}, workers=1
    )
    assert app.get(PATH).status == 301  # the proxy says plain HTTP (here: says nothing)
    secure = app.get(PATH, headers=CLAIM)
    assert secure.status == 401, secure.body  # taken for HTTPS: served (and refused for want of a token)
    assert secure.headers["strict-transport-security"].startswith("max-age=")  # sent only on a secure request
