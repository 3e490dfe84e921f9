import logging

import pytest
from django.contrib.auth import get_user_model


@pytest.mark.django_db
def test_healthz_answers_without_touching_anything(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["X-Request-ID"]


@pytest.mark.django_db
def test_readyz_reports_each_dependency_as_ok_or_failing_and_nothing_more(client, fake_openai, settings):
    settings.LLM_MODEL = "secret-model-name"
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": {"ok": True}, "redis": {"ok": True}, "llm": {"ok": True}},
    }
    assert "secret-model-name" not in response.content.decode()


@pytest.mark.django_db
def test_readyz_is_503_when_redis_is_down_and_says_why_only_in_the_log(client, settings, closed_port, caplog):
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port}/15"
    with caplog.at_level(logging.WARNING, logger="chat.health"):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": {"ok": True}, "redis": {"ok": False}, "llm": {"ok": True}},
    }
    assert "ConnectionError" not in response.content.decode()
    [record] = [r for r in caplog.records if r.getMessage() == "readiness check failed"]
    assert (record.dependency, record.detail) == ("redis", "redis unreachable (ConnectionError)")


@pytest.mark.django_db
def test_readyz_gives_staff_the_details(client, admin_user, make_customer, fake_openai, settings, closed_port):
    settings.LLM_MODEL = "secret-model-name"
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port}/15"
    client.force_login(admin_user)
    checks = client.get("/readyz").json()["checks"]
    assert checks["llm"] == {"ok": True, "detail": "openai-compatible endpoint, model secret-model-name"}
    assert checks["redis"] == {"ok": False, "detail": "redis unreachable (ConnectionError)"}
    assert checks["database"] == {"ok": True, "detail": "ok"}

    customer = make_customer("carol")  # a signed-in user who is not staff sees what anyone sees
    client.force_login(get_user_model().objects.get(pk=customer.user_id))
    assert "detail" not in client.get("/readyz").json()["checks"]["llm"]


def test_request_id_is_echoed_when_well_formed(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-ID"] == "abc-123"
    response = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith newline")
    assert response["X-Request-ID"] != "bad id\nwith newline"
