"""Fixtures of the chat API tests: API clients that authenticate as the fixture customers, and open sessions."""

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient


@pytest.fixture
def api() -> Callable[..., APIClient]:
    """`api(customer)`: a client sending `Authorization: Token <customer's token>`."""

    def make(customer) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {customer.token}")
        return client

    return make


@pytest.fixture
def open_session(api) -> Callable[..., str]:
    """`open_session(customer, title="")`: the id of a new open session of theirs, opened through the API."""

    def make(customer, title: str = "") -> str:
        response = api(customer).post("/api/v1/sessions", {"title": title}, format="json")
        assert response.status_code == 201, response.content
        return response.json()["id"]

    return make
