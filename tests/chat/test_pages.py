"""The chat page's server side: sign-in and sign-out, the Content-Security-Policy, and the API reached with the
session cookie: CSRF on every write, and one customer's session never reaching another's data.

The page itself, in a real browser, is tested in test_page_browser.py.
"""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from tests.chat.support import assert_problem

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-customer-passphrase-1"


@pytest.fixture
def alice_signs_in(alice):
    user = get_user_model().objects.get(pk=alice.user_id)
    user.set_password(PASSWORD)
    user.save()
    return alice


def signed_in(customer, *, csrf: bool) -> APIClient:
    """A client with `customer`'s session cookie that enforces CSRF like a browser's requests; with `csrf`, it sends
    the token the chat page hands out, as the page's scripts do."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(get_user_model().objects.get(pk=customer.user_id))
    page = client.get("/")
    assert page.status_code == 200
    if csrf:
        token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.content.decode()).group(1)
        client.credentials(HTTP_X_CSRFTOKEN=token)
    return client


def test_the_page_sends_a_visitor_to_the_sign_in_form():
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/"


def test_a_customer_signs_in_sees_the_page_and_signs_out(alice_signs_in):
    client = Client(enforce_csrf_checks=True)
    form = client.get("/login/")
    assert form.status_code == 200
    token = form.cookies["csrftoken"].value
    wrong = client.post("/login/", {"username": "alice", "password": "guess", "csrfmiddlewaretoken": token})
    assert wrong.status_code == 200
    assert "didn't match" in wrong.content.decode()

    response = client.post("/login/", {"username": "alice", "password": PASSWORD, "csrfmiddlewaretoken": token})
    assert (response.status_code, response["Location"]) == (302, "/")
    page = client.get("/")
    assert page.status_code == 200
    assert '<script type="module" src="/static/chat/app.js">' in page.content.decode()
    assert client.get("/api/v1/me").json()["username"] == "alice"

    assert client.get("/logout/").status_code == 405  # a link or an image cannot sign anyone out
    token = client.cookies["csrftoken"].value
    out = client.post("/logout/", {"csrfmiddlewaretoken": token})
    assert (out.status_code, out["Location"]) == (302, "/login/")
    assert client.get("/api/v1/me").status_code in (401, 403)
    assert client.get("/")["Location"] == "/login/?next=/"


def test_sign_ins_on_the_page_are_throttled_with_the_admins(alice_signs_in, settings):
    settings.ADMIN_LOGIN_ATTEMPTS_PER_USERNAME = 2
    for _ in range(2):
        assert Client().post("/login/", {"username": "alice", "password": "guess"}).status_code == 200
    refused = Client().post("/login/", {"username": "alice", "password": PASSWORD})
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    # One budget for both forms: the admin's refuses the same username too.
    assert Client().post("/admin/login/", {"username": "alice", "password": PASSWORD}).status_code == 429


@pytest.mark.parametrize("path", ["/", "/login/"])
def test_the_pages_forbid_inline_script_and_other_origins(alice_signs_in, path):
    client = Client()
    client.force_login(get_user_model().objects.get(pk=alice_signs_in.user_id))
    response = client.get(path, follow=True)
    assert response.status_code == 200
    policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    assert policy["script-src"] == "'self'"
    assert policy["default-src"] == "'self'"
    assert policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert "unsafe" not in response["Content-Security-Policy"]
    html = response.content.decode()
    assert re.findall(r"<script(?![^>]*\bsrc=)", html) == []  # no inline script for the policy to refuse
    assert not re.search(r"\son[a-z]+=", html)  # nor inline handlers
    assert "<style" not in html
    assert "style=" not in html


def test_the_admin_keeps_its_own_pages(alice_signs_in):
    response = Client().get("/admin/login/")
    assert response.status_code == 200
    assert "Content-Security-Policy" not in response


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/v1/sessions", {}),
        ("post", "/api/v1/sessions/{session}/messages", {"content": "Anything spicy?"}),
        ("post", "/api/v1/sessions/{session}/regenerate", {}),
        ("put", "/api/v1/sessions/{session}/mood", {"mood": "calm"}),
        ("put", "/api/v1/sessions/{session}/constraints", {"allergens": ["sesame"]}),
        ("post", "/api/v1/sessions/{session}/end", None),
        ("delete", "/api/v1/sessions/{session}", None),
        ("post", "/api/v1/recommendations/00000000-0000-4000-8000-000000000000/feedback", {"rating": "up"}),
    ],
)
def test_a_write_with_the_session_cookie_and_no_csrf_token_is_refused(alice, open_session, method, path, body):
    session_id = open_session(alice)
    response = getattr(signed_in(alice, csrf=False), method)(path.format(session=session_id), body, format="json")
    problem = assert_problem(response, 403, "permission_denied")
    assert "CSRF" in problem["detail"]
    assert signed_in(alice, csrf=True).get(f"/api/v1/sessions/{session_id}").json()["status"] == "open"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/v1/sessions/{session}", None),
        ("get", "/api/v1/sessions/{session}/messages", None),
        ("post", "/api/v1/sessions/{session}/messages", {"content": "Anything spicy?"}),
        ("post", "/api/v1/sessions/{session}/regenerate", {}),
        ("put", "/api/v1/sessions/{session}/mood", {"mood": "calm"}),
        ("put", "/api/v1/sessions/{session}/constraints", {"allergens": ["sesame"]}),
        ("post", "/api/v1/sessions/{session}/end", None),
        ("delete", "/api/v1/sessions/{session}", None),
    ],
)
def test_alices_session_cookie_never_reaches_bobs_session(alice, bob, api, open_session, method, path, body):
    bobs = open_session(bob)
    client = signed_in(alice, csrf=True)  # the token passes: what refuses is ownership
    response = getattr(client, method)(path.format(session=bobs), body, format="json")
    assert_problem(response, 404, "not_found")
    assert bobs not in str(client.get("/api/v1/sessions").json())
    detail = api(bob).get(f"/api/v1/sessions/{bobs}").json()
    assert (detail["status"], detail["mood"], detail["constraints"]["allergens"]) == ("open", None, [])


def test_alices_session_cookie_cannot_rate_bobs_recommendation(alice, bob, api, open_session):
    from customers import services as customers

    customers.catalog_demo_seed()
    bobs = open_session(bob)
    turn = api(bob).post(f"/api/v1/sessions/{bobs}/messages", {"content": "Dinner in Mapo?"}, format="json").json()
    [card, *_] = turn["recommendations"]
    client = signed_in(alice, csrf=True)
    response = client.post(f"/api/v1/recommendations/{card['id']}/feedback", {"rating": "down"}, format="json")
    assert_problem(response, 404, "not_found")
    assert (
        api(bob)
        .post(f"/api/v1/recommendations/{card['id']}/feedback", {"rating": "up"}, format="json")
        .json()["rating"]
        == "up"
    )
