"""Who may call: cached token authentication, the session cookie, and callers who are not customers."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_a_request_without_a_token_is_401_with_www_authenticate():
    response = APIClient().get("/api/v1/me")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize(
    "header",
    [
        "Token " + "0" * 40,  # well-formed, but nobody's
        "Token",
        "Token two parts",
        "Token not!a!key",
        "Token " + "a" * 65,
    ],
)
def test_forged_or_malformed_tokens_are_401(alice, header):
    response = APIClient().get("/api/v1/me", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["code"] == "not_authenticated"


def test_the_token_authenticates_its_customer_only(alice, bob, api):
    assert api(alice).get("/api/v1/me").json()["username"] == "alice"
    assert api(bob).get("/api/v1/me").json()["username"] == "bob"


def test_a_warm_token_request_costs_no_sql(alice, api, django_assert_num_queries):
    client = api(alice)
    assert client.get("/api/v1/me").status_code == 200  # warms the token and profile entries
    with django_assert_num_queries(0):
        response = client.get("/api/v1/me")
    assert response.status_code == 200
    assert response.json()["display_name"] == "Alice Kim"


def test_a_staff_token_without_a_customer_is_403(django_user_model):
    staff = django_user_model.objects.create_user("ops", is_staff=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff).key}")
    response = client.get("/api/v1/sessions")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_the_session_cookie_authenticates_a_customer(alice, django_user_model):
    client = APIClient()
    client.force_login(django_user_model.objects.get(pk=alice.user_id))
    response = client.get("/api/v1/me")
    assert response.status_code == 200
    assert response.json()["customer_id"] == alice.customer_id


def test_the_session_cookie_needs_csrf_for_writes(alice, django_user_model):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(django_user_model.objects.get(pk=alice.user_id))
    response = client.post("/api/v1/sessions", {}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_a_staff_session_without_a_customer_is_403(django_user_model):
    client = APIClient()
    client.force_login(django_user_model.objects.create_user("admin", is_staff=True))
    response = client.get("/api/v1/me")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
