"""The public services of `customers`: what they return, what they cache, and what they invalidate."""

import dataclasses
from datetime import timedelta
from uuid import uuid4

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache as django_cache
from django.db import connection
from django.utils import timezone
from rest_framework.authtoken.models import Token

from customers import cache, services
from customers.data import ApiUser, CustomerProfile, SessionAccess, SessionInfo, TurnFacts
from customers.errors import CustomerNotFound, InvalidInput, SessionEnded, SessionNotFound
from customers.models import ChatSession, Customer

pytestmark = pytest.mark.django_db


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    """Run the on-commit callbacks of the block, as a real commit would (tests run inside a transaction)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def _is_cached(spec: cache.CacheSpec, key: object) -> bool:
    return django_cache.get(spec.key(key)) is not None


# --- authentication -----------------------------------------------------------------------------------------


def test_a_token_resolves_to_its_user_and_customer_then_costs_no_query(alice, django_assert_num_queries):
    with django_assert_num_queries(1):
        user = services.api_user_get_by_token(key=alice.token)
    assert user == ApiUser(user_id=alice.user_id, customer_id=alice.customer_id, is_staff=False)
    with django_assert_num_queries(0):
        assert services.api_user_get_by_token(key=alice.token) == user


def test_a_staff_user_without_customer_row_is_an_api_user_without_customer(admin_user):
    key = Token.objects.create(user=admin_user).key
    assert services.api_user_get_by_token(key=key) == ApiUser(user_id=admin_user.pk, customer_id=None, is_staff=True)


def test_an_unknown_token_is_none_and_cached_as_absent(django_assert_num_queries):
    unknown = "0" * 40
    assert services.api_user_get_by_token(key=unknown) is None
    with django_assert_num_queries(0):
        assert services.api_user_get_by_token(key=unknown) is None
        assert services.api_user_get_by_token(key="") is None
        assert services.api_user_get_by_token(key="x" * 500) is None


def test_a_deleted_token_stops_resolving_after_commit(alice, on_commit):
    assert services.api_user_get_by_token(key=alice.token) is not None
    with on_commit():
        Token.objects.filter(key=alice.token).delete()
    assert services.api_user_get_by_token(key=alice.token) is None


def test_a_rotated_token_replaces_the_old_one(alice, on_commit):
    services.api_user_get_by_token(key=alice.token)
    with on_commit():
        Token.objects.filter(user_id=alice.user_id).delete()
        new_key = Token.objects.create(user_id=alice.user_id).key
    assert new_key != alice.token
    assert services.api_user_get_by_token(key=alice.token) is None
    assert services.api_user_get_by_token(key=new_key).customer_id == alice.customer_id


def test_a_deactivated_user_stops_resolving_and_a_reactivated_one_resolves_again(alice, on_commit):
    services.api_user_get_by_token(key=alice.token)
    user = get_user_model().objects.get(pk=alice.user_id)
    with on_commit():
        user.is_active = False
        user.save()
    assert services.api_user_get_by_token(key=alice.token) is None
    with on_commit():
        user.is_active = True
        user.save()
    assert services.api_user_get_by_token(key=alice.token) is not None


def test_a_login_does_not_drop_the_token_entry(alice, on_commit):
    services.api_user_get_by_token(key=alice.token)
    with on_commit():
        user = get_user_model().objects.get(pk=alice.user_id)
        user.last_login = timezone.now()
        user.save(update_fields=["last_login"])
    assert _is_cached(cache.API_USER, cache.token_digest(alice.token))


def test_a_user_who_becomes_a_customer_resolves_to_it(make_customer, on_commit):
    user = get_user_model().objects.create_user(username="erin")
    key = Token.objects.create(user=user).key
    assert services.api_user_get_by_token(key=key).customer_id is None
    with pytest.raises(CustomerNotFound):
        services.customer_id_get_by_user(user_id=user.pk)
    with on_commit():
        customer = Customer.objects.create(user=user, display_name="Erin")
    assert services.api_user_get_by_token(key=key).customer_id == customer.pk
    assert services.customer_id_get_by_user(user_id=user.pk) == customer.pk


# --- customers ----------------------------------------------------------------------------------------------


def test_customer_id_get_by_user_is_cached(alice, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert services.customer_id_get_by_user(user_id=alice.user_id) == alice.customer_id
    with django_assert_num_queries(0):
        assert services.customer_id_get_by_user(user_id=alice.user_id) == alice.customer_id


def test_customer_id_get_by_username_finds_customers_only(alice, admin_user):
    assert services.customer_id_get_by_username(username="alice") == alice.customer_id
    with pytest.raises(CustomerNotFound):
        services.customer_id_get_by_username(username=admin_user.username)


def test_the_profile_holds_the_customers_facts_and_is_cached(alice, django_assert_num_queries):
    with django_assert_num_queries(1):
        profile = services.customer_profile_get(customer_id=alice.customer_id)
    assert dataclasses.replace(profile, created_at=None, updated_at=None) == CustomerProfile(
        customer_id=alice.customer_id,
        username="alice",
        display_name="Alice Kim",
        birth_year=1994,
        home_area="Seoul, Mapo-gu",
        preferred_language="ko",
        currency="KRW",
        monthly_limit_minor=500_000,
        spent_this_month_minor=120_000,
        remaining_limit_minor=380_000,
        preferences=("spicy food", "hiking"),
        allergies=("peanut",),
        diets=(),
        dietary_notes=(),
        created_at=None,
        updated_at=None,
    )
    with django_assert_num_queries(0):
        assert services.customer_profile_get(customer_id=alice.customer_id) == profile


def test_each_customer_has_their_own_profile(alice, bob, charlie):
    allergies = {
        name: services.customer_profile_get(customer_id=customer.customer_id).allergies
        for name, customer in {"alice": alice, "bob": bob, "charlie": charlie}.items()
    }
    assert allergies == {"alice": ("peanut",), "bob": ("crustacean", "mollusc"), "charlie": ("wheat",)}
    assert services.customer_profile_get(customer_id=bob.customer_id).remaining_limit_minor == 20_000


def test_the_profile_matches_the_row_exactly(alice):
    profile = services.customer_profile_get(customer_id=alice.customer_id)
    cached = services.customer_profile_get(customer_id=alice.customer_id)
    row = Customer.objects.get(pk=alice.customer_id)
    assert isinstance(cached, CustomerProfile)
    assert cached == profile
    assert (cached.created_at, cached.updated_at) == (row.created_at, row.updated_at)


def test_an_unknown_customer_is_not_found_and_cached_as_absent(django_assert_num_queries):
    with pytest.raises(CustomerNotFound):
        services.customer_profile_get(customer_id=999_999)
    with django_assert_num_queries(0), pytest.raises(CustomerNotFound):
        services.customer_profile_get(customer_id=999_999)


def test_customer_update_validates_saves_and_invalidates_after_commit(alice, on_commit):
    services.customer_profile_get(customer_id=alice.customer_id)
    with on_commit():
        profile = services.customer_update(
            customer_id=alice.customer_id,
            spent_this_month_minor=600_000,
            preferences=[" spicy food ", "hiking", "hiking", "카페 투어"],
        )
    assert profile.preferences == ("spicy food", "hiking", "카페 투어")
    assert profile.remaining_limit_minor == 0
    assert services.customer_profile_get(customer_id=alice.customer_id).remaining_limit_minor == 0
    assert Customer.objects.get(pk=alice.customer_id).spent_this_month_minor == 600_000


def test_customer_update_refuses_an_unknown_field_with_a_value_error(alice):
    with pytest.raises(ValueError, match="unknown customer fields: nickname, user_id"):
        services.customer_update(customer_id=alice.customer_id, nickname="Al", user_id=1)


@pytest.mark.parametrize(
    "fields",
    [
        {"monthly_limit_minor": 10.5},
        {"monthly_limit_minor": "100"},
        {"spent_this_month_minor": -1},
        {"currency": "won"},
        {"preferred_language": "fr"},
        {"birth_year": 1800},
        {"allergies": "peanuts"},
        {"preferences": ["ok", ""]},
        {"display_name": ""},
    ],
)
def test_customer_update_refuses_invalid_values(alice, fields):
    with pytest.raises(InvalidInput, match=next(iter(fields))):
        services.customer_update(customer_id=alice.customer_id, **fields)
    assert Customer.objects.get(pk=alice.customer_id).monthly_limit_minor == 500_000


def test_customer_update_of_an_unknown_customer_is_not_found():
    with pytest.raises(CustomerNotFound):
        services.customer_update(customer_id=999_999, home_area="Jeju")


def test_customer_cache_drop_drops_every_entry_of_the_customer(alice, on_commit):
    session = services.session_open(customer_id=alice.customer_id)
    services.api_user_get_by_token(key=alice.token)
    services.customer_id_get_by_user(user_id=alice.user_id)
    services.customer_profile_get(customer_id=alice.customer_id)
    services.session_access_get(customer_id=alice.customer_id, session_id=session.session_id)
    services.turn_facts_get(customer_id=alice.customer_id, session_id=session.session_id, past_limit=3)
    entries = [
        (cache.API_USER, cache.token_digest(alice.token)),
        (cache.CUSTOMER_OF_USER, alice.user_id),
        (cache.CUSTOMER, alice.customer_id),
        (cache.SESSION_ACCESS, session.session_id),
        (cache.PAST_SUMMARIES, alice.customer_id),
    ]
    assert all(_is_cached(spec, key) for spec, key in entries)
    with on_commit():
        services.customer_cache_drop(customer_id=alice.customer_id)
    assert not any(_is_cached(spec, key) for spec, key in entries)


def test_demo_seed_creates_three_customers_with_working_tokens_and_is_idempotent():
    first = services.demo_customers_seed()
    second = services.demo_customers_seed()
    assert first == second
    assert [demo.username for demo in first] == ["alice", "bob", "charlie"]
    assert Customer.objects.count() == 3
    for demo in first:
        assert services.api_user_get_by_token(key=demo.token).customer_id == demo.customer_id
        assert not get_user_model().objects.get(username=demo.username).has_usable_password()
    profiles = [services.customer_profile_get(customer_id=demo.customer_id) for demo in first]
    assert "peanut" in profiles[0].allergies
    assert "spicy food" in profiles[0].preferences


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
    assert _is_cached(cache.SESSION_ACCESS, session.session_id)
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
    assert _is_cached(cache.SESSION_ACCESS, session.session_id)


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
    assert not _is_cached(cache.CUSTOMER, alice.customer_id)
    assert not _is_cached(cache.CUSTOMER, bob.customer_id)


def test_a_turn_read_admits_after_the_access_check_and_before_loading_anything_else(
    alice, bob, django_assert_num_queries
):
    session = services.session_open(customer_id=alice.customer_id)
    admitted = []
    with pytest.raises(SessionNotFound):
        services.turn_facts_get(
            customer_id=bob.customer_id, session_id=session.session_id, past_limit=3, admit=lambda: admitted.append(1)
        )
    assert admitted == []

    class Refused(Exception):
        pass

    def refuse() -> None:
        raise Refused

    with django_assert_num_queries(0), pytest.raises(Refused):  # the access is cached: nothing is loaded
        services.turn_facts_get(
            customer_id=alice.customer_id, session_id=session.session_id, past_limit=3, admit=refuse
        )
    assert not _is_cached(cache.CUSTOMER, alice.customer_id)
    services.turn_facts_get(
        customer_id=alice.customer_id, session_id=session.session_id, past_limit=3, admit=lambda: admitted.append(1)
    )
    assert admitted == [1]
