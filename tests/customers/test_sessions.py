"""The session services of `customers` (customers/sessions.py): sessions, cached access, activity, a turn's read."""

import dataclasses
from datetime import timedelta
from uuid import uuid4

import pytest
from django.db import connection
from django.utils import timezone

from customers import cache, services
from customers.data import SessionAccess, SessionInfo, TurnFacts
from customers.errors import CustomerNotFound, InvalidInput, SessionEnded, SessionNotFound
from customers.models import ChatSession
from tests.customers.cache_support import is_cached

pytestmark = pytest.mark.django_db


# --- sessions -------------------------------------------------------------------------------------------------


def test_session_open_returns_an_open_session(alice):
    session = services.session_open(customer_id=alice.customer_id, title="  저녁 메뉴 추천  ")
    assert isinstance(session, SessionInfo)
    assert (session.customer_id, session.status, session.title, session.message_count) == (
        alice.customer_id,
        "open",
        "저녁 메뉴 추천",
        0,
    )
    assert services.session_open(customer_id=alice.customer_id, title="x" * 300).title == "x" * 200


def test_session_open_for_an_unknown_customer_is_not_found():
    with pytest.raises(CustomerNotFound):
        services.session_open(customer_id=999_999)


def test_session_access_is_cached_and_another_customers_session_is_not_found(alice, bob, django_assert_num_queries):
    session = services.session_open(customer_id=alice.customer_id)
    with django_assert_num_queries(1):
        access = services.session_access_get(customer_id=alice.customer_id, session_id=session.session_id)
    assert access == SessionAccess(session_id=session.session_id, customer_id=alice.customer_id, status="open")
    with django_assert_num_queries(0):
        services.session_access_get(customer_id=alice.customer_id, session_id=session.session_id)
        with pytest.raises(SessionNotFound):
            services.session_access_get(customer_id=bob.customer_id, session_id=session.session_id)
    with pytest.raises(SessionNotFound):
        services.session_access_get(customer_id=alice.customer_id, session_id=uuid4())


def test_session_get_is_fresh_and_only_the_owners(alice, bob):
    session = services.session_open(customer_id=alice.customer_id)
    services.session_record_activity(
        session_id=session.session_id, messages_added=2, prompt_tokens=5, completion_tokens=3
    )
    assert services.session_get(customer_id=alice.customer_id, session_id=session.session_id).message_count == 2
    assert services.session_get_for_staff(session_id=session.session_id).prompt_tokens == 5
    with pytest.raises(SessionNotFound):
        services.session_get(customer_id=bob.customer_id, session_id=session.session_id)
    with pytest.raises(SessionNotFound):
        services.session_get_for_staff(session_id=uuid4())


def test_record_activity_is_one_update_and_keeps_the_cached_access(alice, on_commit, django_assert_num_queries):
    session = services.session_open(customer_id=alice.customer_id)
    services.session_access_get(customer_id=alice.customer_id, session_id=session.session_id)
    at = timezone.now() + timedelta(minutes=5)
    with on_commit():
        with django_assert_num_queries(1) as captured:
            services.session_record_activity(
                session_id=session.session_id,
                messages_added=2,
                prompt_tokens=120,
                completion_tokens=40,
                mood="happy",
                at=at,
            )
        services.session_record_activity(
            session_id=session.session_id, messages_added=2, prompt_tokens=80, completion_tokens=20
        )
    assert captured.captured_queries[0]["sql"].startswith("UPDATE")
    assert is_cached(cache.SESSION_ACCESS, session.session_id)
    row = ChatSession.objects.get(pk=session.session_id)
    assert (row.message_count, row.prompt_tokens, row.completion_tokens) == (4, 200, 60)
    assert row.final_mood == "happy"
    assert row.last_activity_at == at, "an earlier activity time moved the last activity backwards"


def test_record_activity_refuses_negative_amounts_and_unknown_sessions(alice):
    session = services.session_open(customer_id=alice.customer_id)
    with pytest.raises(InvalidInput):
        services.session_record_activity(
            session_id=session.session_id, messages_added=-1, prompt_tokens=0, completion_tokens=0
        )
    with pytest.raises(SessionNotFound):
        services.session_record_activity(session_id=uuid4(), messages_added=1, prompt_tokens=0, completion_tokens=0)


def test_session_end_ends_once_and_invalidates_access_and_summaries(alice, on_commit):
    session = services.session_open(customer_id=alice.customer_id, title="Weekend hiking")
    services.session_record_activity(
        session_id=session.session_id, messages_added=2, prompt_tokens=1, completion_tokens=1, mood="calm"
    )
    services.session_access_get(customer_id=alice.customer_id, session_id=session.session_id)
    later = services.session_open(customer_id=alice.customer_id)

    def past_summaries() -> tuple:
        return services.turn_facts_get(
            customer_id=alice.customer_id, session_id=later.session_id, past_limit=3
        ).past_summaries

    assert past_summaries() == ()
    with on_commit():
        ended = services.session_end(session_id=session.session_id, summary="Suggested Bukhansan trails.")
    assert (ended.status, ended.summary, ended.final_mood) == ("ended", "Suggested Bukhansan trails.", "calm")
    assert ended.ended_at is not None
    access = services.session_access_get(customer_id=alice.customer_id, session_id=session.session_id)
    assert access.status == "ended"
    [summary] = past_summaries()
    assert (summary.session_id, summary.title, summary.summary) == (
        session.session_id,
        "Weekend hiking",
        "Suggested Bukhansan trails.",
    )
    with pytest.raises(SessionEnded):
        services.session_end(session_id=session.session_id, summary="again")
    assert ChatSession.objects.get(pk=session.session_id).summary == "Suggested Bukhansan trails."
    with pytest.raises(SessionNotFound):
        services.session_end(session_id=uuid4(), summary="")


def test_session_delete_removes_only_the_owners_session_and_its_cache_entries(alice, bob, on_commit):
    session = services.session_open(customer_id=alice.customer_id)
    services.session_access_get(customer_id=alice.customer_id, session_id=session.session_id)
    with pytest.raises(SessionNotFound):
        services.session_delete(customer_id=bob.customer_id, session_id=session.session_id)
    with on_commit():
        services.session_delete(customer_id=alice.customer_id, session_id=session.session_id)
    assert not ChatSession.objects.filter(pk=session.session_id).exists()
    with pytest.raises(SessionNotFound):
        services.session_access_get(customer_id=alice.customer_id, session_id=session.session_id)


def test_past_summaries_are_newest_first_limited_and_cached(alice, bob, on_commit, django_assert_num_queries):
    sessions = [services.session_open(customer_id=alice.customer_id, title=f"t{n}") for n in range(4)]
    with on_commit():
        for n, session in enumerate(sessions[:3]):
            services.session_end(session_id=session.session_id, summary=f"summary {n}")
    bob_session = services.session_open(customer_id=bob.customer_id)
    services.turn_facts_get(customer_id=alice.customer_id, session_id=sessions[3].session_id, past_limit=0)

    def past(limit: int, customer=alice, session=sessions[3]) -> list[str]:
        facts = services.turn_facts_get(
            customer_id=customer.customer_id, session_id=session.session_id, past_limit=limit
        )
        return [s.summary for s in facts.past_summaries]

    with django_assert_num_queries(1):
        assert past(2) == ["summary 2", "summary 1"]
    with django_assert_num_queries(0):
        assert past(3) == ["summary 2", "summary 1", "summary 0"]
    assert past(3, customer=bob, session=bob_session) == []
    assert past(0) == []
    with django_assert_num_queries(1):  # beyond what the cache holds: straight from the database
        assert past(25) == ["summary 2", "summary 1", "summary 0"]


def test_session_list_is_newest_first_filtered_and_paginated(alice, bob):
    sessions = [services.session_open(customer_id=alice.customer_id, title=f"t{n}") for n in range(5)]
    ChatSession.objects.filter(pk__in=[s.session_id for s in sessions]).update(created_at=timezone.now())
    for n, session in enumerate(sessions):  # distinct creation times, in opening order
        ChatSession.objects.filter(pk=session.session_id).update(created_at=timezone.now() + timedelta(seconds=n))
    services.session_end(session_id=sessions[0].session_id, summary="done")
    services.session_open(customer_id=bob.customer_id)

    page = services.session_list(customer_id=alice.customer_id, offset=1, limit=2)
    assert page.count == 5
    assert [s.title for s in page.results] == ["t3", "t2"]
    assert [s.title for s in services.session_list(customer_id=alice.customer_id, status="ended").results] == ["t0"]
    assert services.session_list(customer_id=alice.customer_id, status="open").count == 4
    with pytest.raises(InvalidInput):
        services.session_list(customer_id=alice.customer_id, status="paused")


def test_session_list_idle_lists_open_idle_sessions_oldest_first(alice, bob):
    now = timezone.now()
    idle_long = services.session_open(customer_id=alice.customer_id, title="long")
    idle_short = services.session_open(customer_id=bob.customer_id, title="short")
    active = services.session_open(customer_id=alice.customer_id, title="active")
    ended = services.session_open(customer_id=alice.customer_id, title="ended")
    for session, minutes in [(idle_long, 90), (idle_short, 40), (active, 1), (ended, 120)]:
        ChatSession.objects.filter(pk=session.session_id).update(last_activity_at=now - timedelta(minutes=minutes))
    services.session_end(session_id=ended.session_id, summary="")

    idle = services.session_list_idle(before=now - timedelta(minutes=30))
    assert [s.title for s in idle] == ["long", "short"]
    assert [s.title for s in services.session_list_idle(before=now - timedelta(minutes=30), limit=1)] == ["long"]


def test_services_return_frozen_dataclasses_never_model_instances(alice):
    session = services.session_open(customer_id=alice.customer_id)
    results = [
        services.customer_profile_get(customer_id=alice.customer_id),
        services.turn_facts_get(customer_id=alice.customer_id, session_id=session.session_id, past_limit=3),
        services.session_get(customer_id=alice.customer_id, session_id=session.session_id),
        services.session_list(customer_id=alice.customer_id),
    ]
    for result in results:
        assert dataclasses.is_dataclass(result)
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(result, dataclasses.fields(result)[0].name, None)


def test_database_health_reports_ok():
    assert services.database_health().ok
    assert connection.is_usable()


# --- a chat turn ------------------------------------------------------------------------------------------------


@pytest.fixture
def redis_commands(monkeypatch):
    """The commands this process sends to Redis, one list per round trip (a command, or a pipeline)."""
    from redis.connection import AbstractConnection

    trips: list[list[bytes]] = []
    original = AbstractConnection.send_packed_command

    def counted(self, command, check_health=True):
        packed = command.encode() if isinstance(command, str) else b"".join(command)
        trips.append([line for line in packed.split(b"\r\n") if line.isupper() and line.isalpha()])
        return original(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
    return trips


def test_a_warm_turn_read_is_one_cache_round_trip_and_no_query(
    alice, on_commit, redis_commands, django_assert_num_queries
):
    ended = services.session_open(customer_id=alice.customer_id, title="Hiking")
    with on_commit():
        services.session_end(session_id=ended.session_id, summary="Suggested Bukhansan trails.")
    session = services.session_open(customer_id=alice.customer_id)
    cold = services.turn_facts_get(customer_id=alice.customer_id, session_id=session.session_id, past_limit=3)
    redis_commands.clear()
    with django_assert_num_queries(0):
        warm = services.turn_facts_get(customer_id=alice.customer_id, session_id=session.session_id, past_limit=3)
    assert redis_commands == [[b"MGET"]]
    assert warm == cold
    assert warm == TurnFacts(
        access=SessionAccess(session_id=session.session_id, customer_id=alice.customer_id, status="open"),
        profile=services.customer_profile_get(customer_id=alice.customer_id),
        past_summaries=warm.past_summaries,
    )
    assert [(p.title, p.summary) for p in warm.past_summaries] == [("Hiking", "Suggested Bukhansan trails.")]


def test_a_turn_read_loads_only_its_misses(alice, on_commit, django_assert_num_queries):
    session = services.session_open(customer_id=alice.customer_id)
    services.turn_facts_get(customer_id=alice.customer_id, session_id=session.session_id, past_limit=3)
    with on_commit():
        cache.invalidate_on_commit([(cache.SESSION_ACCESS, session.session_id)])
    with django_assert_num_queries(1) as captured:
        services.turn_facts_get(customer_id=alice.customer_id, session_id=session.session_id, past_limit=3)
    assert "customers_chatsession" in captured.captured_queries[0]["sql"]
    assert is_cached(cache.SESSION_ACCESS, session.session_id)


def test_a_turn_read_answers_not_found_before_ended_and_loads_no_profile_for_either(
    alice, bob, on_commit, django_assert_num_queries
):
    session = services.session_open(customer_id=alice.customer_id)
    with on_commit():
        services.session_end(session_id=session.session_id, summary="")
    with django_assert_num_queries(1), pytest.raises(SessionNotFound):  # bob's: not found, though it has ended
        services.turn_facts_get(customer_id=bob.customer_id, session_id=session.session_id, past_limit=3)
    with django_assert_num_queries(0), pytest.raises(SessionEnded):
        services.turn_facts_get(customer_id=alice.customer_id, session_id=session.session_id, past_limit=3)
    with pytest.raises(SessionNotFound):
        services.turn_facts_get(customer_id=alice.customer_id, session_id=uuid4(), past_limit=3)
    assert not is_cached(cache.CUSTOMER, alice.customer_id)
    assert not is_cached(cache.CUSTOMER, bob.customer_id)
