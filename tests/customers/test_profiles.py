"""The profile services of `customers` (customers/profiles.py): tokens, customer ids, the cached profile, updates."""

import dataclasses

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.authtoken.models import Token

from customers import cache, services
from customers.data import ApiUser, CustomerProfile
from customers.errors import CustomerNotFound, InvalidInput, NotCached
from customers.models import Customer
from customers.profiles import customer_update
from tests.customers.cache_support import is_cached

pytestmark = pytest.mark.django_db


# --- authentication -----------------------------------------------------------------------------------------


def test_a_token_resolves_to_its_user_and_customer_then_costs_no_query(alice, django_assert_num_queries):
    with django_assert_num_queries(1):
        user = services.api_user_get_by_token(key=alice.token)
    assert user == ApiUser(user_id=alice.user_id, customer_id=alice.customer_id, is_staff=False)
    with django_assert_num_queries(0):
        assert services.api_user_get_by_token(key=alice.token) == user


def test_the_cached_token_read_never_asks_the_database(alice, django_assert_num_queries):
    unknown = "0" * 40
    with django_assert_num_queries(0):
        for key in (alice.token, unknown):
            with pytest.raises(NotCached):
                services.api_user_get_cached(key=key)
    user = services.api_user_get_by_token(key=alice.token)
    assert services.api_user_get_by_token(key=unknown) is None
    with django_assert_num_queries(0):
        assert services.api_user_get_cached(key=alice.token) == user
        assert services.api_user_get_cached(key=unknown) is None  # cached as absent
        assert services.api_user_get_cached(key="") is None


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
    assert is_cached(cache.API_USER, cache.token_digest(alice.token))


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


def test_customer_id_get_by_useris_cached(alice, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert services.customer_id_get_by_user(user_id=alice.user_id) == alice.customer_id
    with django_assert_num_queries(0):
        assert services.customer_id_get_by_user(user_id=alice.user_id) == alice.customer_id


def test_customer_id_get_by_username_finds_customers_only(alice, admin_user):
    assert services.customer_id_get_by_username(username="alice") == alice.customer_id
    with pytest.raises(CustomerNotFound):
        services.customer_id_get_by_username(username=admin_user.username)


def test_the_profile_holds_the_customers_facts_andis_cached(alice, django_assert_num_queries):
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
        profile = customer_update(
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
        customer_update(customer_id=alice.customer_id, nickname="Al", user_id=1)


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
        customer_update(customer_id=alice.customer_id, **fields)
    assert Customer.objects.get(pk=alice.customer_id).monthly_limit_minor == 500_000


def test_customer_update_of_an_unknown_customer_is_not_found():
    with pytest.raises(CustomerNotFound):
        customer_update(customer_id=999_999, home_area="Jeju")


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
    assert all(is_cached(spec, key) for spec, key in entries)
    with on_commit():
        services.customer_cache_drop(customer_id=alice.customer_id)
    assert not any(is_cached(spec, key) for spec, key in entries)


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
