"""The models' database constraints, indexes and derived values, on PostgreSQL."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from customers.models import ChatSession, Customer, validate_tags

pytestmark = pytest.mark.django_db


def _integrity_error(**changes: object) -> str:
    """Apply `changes` to a fresh session row with an UPDATE and return the violated constraint's name."""
    session = ChatSession.objects.create(customer=Customer.objects.get())
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        ChatSession.objects.filter(pk=session.pk).update(**changes)
    return str(caught.value)


@pytest.mark.parametrize(
    ("changes", "constraint"),
    [
        ({"status": "paused", "ended_at": timezone.now()}, "session_status_known"),
        ({"status": "ended"}, "session_ended_has_ended_at"),
        ({"message_count": -1}, "session_message_count_non_negative"),
        ({"prompt_tokens": -1}, "session_prompt_tokens_non_negative"),
        ({"completion_tokens": -5}, "session_completion_tokens_non_negative"),
    ],
)
def test_session_constraints_hold_in_the_database(alice, changes, constraint):
    assert constraint in _integrity_error(**changes)


@pytest.mark.parametrize(
    ("changes", "constraint"),
    [
        ({"monthly_limit_minor": -1}, "customer_monthly_limit_non_negative"),
        ({"spent_this_month_minor": -100}, "customer_spent_non_negative"),
        ({"birth_year": 1800}, "customer_birth_year_plausible"),
    ],
)
def test_customer_constraints_hold_in_the_database(alice, changes, constraint):
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        Customer.objects.filter(pk=alice.customer_id).update(**changes)
    assert constraint in str(caught.value)


def test_an_ended_session_with_its_end_time_is_valid(alice):
    session = ChatSession.objects.create(customer_id=alice.customer_id)
    ChatSession.objects.filter(pk=session.pk).update(status="ended", ended_at=timezone.now())
    assert ChatSession.objects.get(pk=session.pk).status == "ended"


def test_remaining_limit_is_the_difference_and_never_negative(alice):
    customer = Customer.objects.get(pk=alice.customer_id)
    assert customer.remaining_limit_minor == 380_000
    customer.spent_this_month_minor = 900_000
    assert customer.remaining_limit_minor == 0


def test_defaults_are_korean_won_and_empty_tag_lists(make_customer):
    customer = Customer.objects.get(pk=make_customer("dana").customer_id)
    assert (customer.currency, customer.preferred_language) == ("KRW", "ko")
    assert (customer.preferences, customer.allergies, customer.monthly_limit_minor) == ([], [], 0)


@pytest.mark.parametrize(
    "value",
    ["peanuts", ["ok", ""], ["ok", 3], ["x" * 41], [f"tag {n}" for n in range(21)]],
)
def test_tag_lists_refuse_anything_but_a_short_list_of_short_strings(value):
    with pytest.raises(ValidationError):
        validate_tags(value)


def test_tag_lists_accept_korean_and_english_tags():
    validate_tags(["spicy food", "등산", "K-indie music"])


def test_sessions_have_an_index_for_newest_first_and_a_partial_one_for_idle_open_sessions():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'customers_chatsession'")
        indexes = dict(cursor.fetchall())
    assert "(customer_id, created_at DESC)" in indexes["session_customer_newest"]
    assert "WHERE" in indexes["session_open_by_activity"]
    assert "'open'" in indexes["session_open_by_activity"]


def test_the_idle_sweep_query_uses_the_partial_index(alice):
    sessions = [ChatSession(customer_id=alice.customer_id) for _ in range(200)]
    ChatSession.objects.bulk_create(sessions)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE customers_chatsession")
        cursor.execute("SET LOCAL enable_seqscan = off")  # a table this small would be scanned otherwise
        plan = (
            ChatSession.objects.filter(status="open", last_activity_at__lt=timezone.now() - timedelta(hours=1))
            .order_by("last_activity_at")
            .explain()
        )
    assert "session_open_by_activity" in plan
