"""Fixtures shared by the tests of customers' services."""

import pytest


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    """Run the on-commit callbacks of the block, as a real commit would (tests run inside a transaction)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)
