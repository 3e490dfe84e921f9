"""Static files (the admin's and Swagger UI's) served under ASGI by uvicorn, as in production: each answers 200
with its content, and the server logs no warning about iterating a response the synchronous way."""

import re

import pytest

pytestmark = [pytest.mark.processes, pytest.mark.timeout(90)]

SYNC_ITERATOR_WARNING = "StreamingHttpResponse must consume synchronous iterators"


def static_urls(html: str) -> list[str]:
    return sorted(set(re.findall(r"""(?:href|src)="(/static/[^"]+)""", html)))


@pytest.mark.parametrize("debug", ["false", "true"])
def test_static_files_under_asgi_answer_without_the_sync_iterator_warning(app_server_factory, alice, debug):
    server = app_server_factory({"DEBUG": debug}, workers=1)
    login = server.get("/admin/login/")
    docs = server.get("/api/docs/", headers={"Authorization": f"Token {alice.token}"})
    assert login.status == 200
    assert docs.status == 200
    urls = static_urls(login.body.decode()) + static_urls(docs.body.decode())
    assert any("/admin/" in url for url in urls), urls
    assert any("swagger" in url for url in urls), urls

    for url in urls:
        response = server.get(url)
        assert response.status == 200, url
        assert response.body, url

    log = server.log_text()
    assert SYNC_ITERATOR_WARNING not in log
    assert "Traceback" not in log
