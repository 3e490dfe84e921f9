"""Customers' accounts and profiles: API tokens, the profile (read-through cached), its updates and the demo
customers. Other apps reach these functions through `customers.services`."""

from collections.abc import Sequence
from pathlib import Path
from uuid import UUID

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from rest_framework.authtoken.models import Token

from customers import cache, memory, selectors, spending
from customers.cache import get_or_load
from customers.catalog import vocabulary
from customers.data import (
    ApiUser,
    CustomerMe,
    CustomerProfile,
    DemoCustomer,
    SpendingImportResult,
)
from customers.database import database_required
from customers.demo import DEMO_CUSTOMERS
from customers.errors import (
    CustomerNotFound,
    InvalidInput,
    NotCached,
)
from customers.models import PROFILE_FIELDS, ChangeSource, ChatSession, Customer, ProposalKind
from customers.spending_import import import_file as spending_import_file

PROPOSAL_KINDS: tuple[str, ...] = tuple(ProposalKind.values)
_TOKEN_MAX_LENGTH = Token._meta.get_field("key").max_length
_UPDATABLE_FIELDS = frozenset(PROFILE_FIELDS)
_MONEY_FIELDS = frozenset({"monthly_limit_minor", "spent_this_month_minor"})
_TAG_FIELDS = frozenset({"preferences", "allergies", "diets", "dietary_notes"})


# --- authentication ---------------------------------------------------------------------------------------


@database_required
def api_user_get_by_token(*, key: str) -> ApiUser | None:
    """The active user owning API token `key` (cached), or None for an unknown key or an inactive user (cached
    as absent for CUSTOMER_CACHE_MISSING_TTL)."""
    if not key or len(key) > _TOKEN_MAX_LENGTH:
        return None  # no DRF token looks like this: spare the cache and the database
    return get_or_load(cache.API_USER, cache.token_digest(key), lambda: selectors.api_user(key=key))


def api_user_get_cached(*, key: str) -> ApiUser | None:
    """As `api_user_get_by_token`, from the cache alone: raises NotCached when only the database can tell (a caller
    that limits database lookups counts one, then asks `api_user_load`)."""
    if not key or len(key) > _TOKEN_MAX_LENGTH:
        return None
    [found] = cache.get_many([(cache.API_USER, cache.token_digest(key))])
    if found is cache.MISS:
        raise NotCached("the token is not cached")
    return found


@database_required
def api_user_load(*, key: str) -> ApiUser | None:
    """After `api_user_get_cached` raised NotCached: the user of token `key` from the database, cached as
    `api_user_get_by_token` caches it, without reading the cache again."""
    return cache.load(cache.API_USER, cache.token_digest(key), lambda: selectors.api_user(key=key))


# --- customers --------------------------------------------------------------------------------------------


@database_required
def customer_id_get_by_user(*, user_id: int) -> int:
    """The customer id of a Django user (cached). Raises CustomerNotFound when the user is no customer."""
    customer_id = get_or_load(cache.CUSTOMER_OF_USER, user_id, lambda: selectors.customer_id_of_user(user_id=user_id))
    if customer_id is None:
        raise CustomerNotFound(f"user {user_id} is no customer")
    return customer_id


@database_required
def customer_id_get_by_username(*, username: str) -> int:
    """The customer id of the user named `username` (for management commands; not cached). Raises CustomerNotFound."""
    lookup = {f"user__{get_user_model().USERNAME_FIELD}": username}
    customer_id = Customer.objects.filter(**lookup).values_list("id", flat=True).first()
    if customer_id is None:
        raise CustomerNotFound(f"no customer with username {username!r}")
    return customer_id


@database_required
def customer_profile_get(*, customer_id: int) -> CustomerProfile:
    """The customer's own profile (read-through cached). Raises CustomerNotFound."""
    profile = get_or_load(cache.CUSTOMER, customer_id, lambda: selectors.customer_profile(customer_id=customer_id))
    if profile is None:
        raise CustomerNotFound(f"customer {customer_id} not found")
    return profile


@database_required
def customer_me_get(*, customer_id: int) -> CustomerMe:
    """The customer's profile and pending profile proposals (both read-through cached: one cache round trip when
    warm). Raises CustomerNotFound."""
    profile, proposals = cache.get_many([(cache.CUSTOMER, customer_id), (cache.PROPOSALS, customer_id)])
    if profile is cache.MISS:
        profile = cache.load(cache.CUSTOMER, customer_id, lambda: selectors.customer_profile(customer_id=customer_id))
    if profile is None:
        raise CustomerNotFound(f"customer {customer_id} not found")
    if proposals is cache.MISS:
        proposals = cache.load(cache.PROPOSALS, customer_id, lambda: memory.proposals_pending(customer_id=customer_id))
    return CustomerMe(profile=profile, proposals=proposals or ())


@database_required
def customer_profile_edit(*, customer_id: int, changes: dict[str, object], by_user_id: int | None = None) -> CustomerMe:
    """The customer's own edit of their allergies, diets, dietary notes and preferences (each a list of strings,
    replaced whole): allergies and diets read through the vocabulary (codes, or what people write: "땅콩",
    "shellfish", "채식"), entries that map to no code kept as unverified dietary notes; recorded as a profile
    change by the customer (`by_user_id`). Raises InvalidInput naming the field (any other field, the monthly limit
    and the spending included: nothing is written then), CustomerNotFound."""
    memory.profile_edit(customer_id=customer_id, changes=changes, by_user_id=by_user_id)
    return _me_fresh(customer_id)


@database_required
def profile_proposal_accept(
    *, customer_id: int | None, proposal_id: UUID, by_user_id: int | None = None, staff: bool = False
) -> CustomerMe:
    """Accept a pending proposal: its code joins the profile (the cached profile is dropped on commit); recorded as
    a profile change by the customer, or by staff (`staff`, `customer_id` None: whoever's it is). Raises
    ProposalNotFound (absent or another customer's), ProposalDecided."""
    profile = memory.proposal_decide(
        customer_id=customer_id, proposal_id=proposal_id, accept=True, by_user_id=by_user_id, source=_source(staff)
    )
    return _me_fresh(profile.customer_id)


@database_required
def profile_proposal_decline(
    *, customer_id: int | None, proposal_id: UUID, by_user_id: int | None = None, staff: bool = False
) -> CustomerMe:
    """Decline a pending proposal: it stops binding (but where a session's own constraints hold its code) and is
    not proposed again from its session. As `profile_proposal_accept` otherwise."""
    profile = memory.proposal_decide(
        customer_id=customer_id, proposal_id=proposal_id, accept=False, by_user_id=by_user_id, source=_source(staff)
    )
    return _me_fresh(profile.customer_id)


def _source(staff: bool) -> str:
    return ChangeSource.STAFF if staff else ChangeSource.CUSTOMER


def _me_fresh(customer_id: int) -> CustomerMe:
    """The profile and pending proposals as just committed (not from the cache, whose entries are being dropped)."""
    profile = selectors.customer_profile(customer_id=customer_id)
    if profile is None:
        raise CustomerNotFound(f"customer {customer_id} not found")
    return CustomerMe(profile=profile, proposals=memory.proposals_pending(customer_id=customer_id))


@database_required
def customer_update(*, customer_id: int, **fields: object) -> CustomerProfile:
    """Change profile fields (validated); cached entries are dropped once the transaction commits.

    Raises InvalidInput (a ValueError) for an unknown field or an invalid value, CustomerNotFound.
    """
    unknown = sorted(set(fields) - _UPDATABLE_FIELDS)
    if unknown:
        raise InvalidInput(f"unknown customer fields: {', '.join(unknown)}")
    for name in _MONEY_FIELDS & set(fields):
        if type(fields[name]) is not int:
            raise InvalidInput(f"{name}: must be an integer amount of minor units")
    with transaction.atomic():
        customer = Customer.objects.select_for_update().select_related("user").filter(pk=customer_id).first()
        if customer is None:
            raise CustomerNotFound(f"customer {customer_id} not found")
        if "spent_this_month_minor" in fields and "spent_month" not in fields:
            fields = {**fields, "spent_month": spending.this_month()}  # a spending given alone is this month's
        for name, value in fields.items():
            setattr(customer, name, _normalized_tags(value, name) if name in _TAG_FIELDS else value)
        try:
            customer.full_clean(exclude=[f.name for f in Customer._meta.fields if f.name not in fields])
        except ValidationError as exc:
            detail = "; ".join(f"{field}: {' '.join(errors)}" for field, errors in sorted(exc.message_dict.items()))
            raise InvalidInput(detail) from None
        # The post_save receiver drops the cached entries on commit.
        customer.save(update_fields=[*fields, "updated_at"])
    return selectors.profile_of(customer)


@database_required
def spending_import(*, path: str | Path) -> SpendingImportResult:
    """Record what customers spent per month from a JSON Lines file of `{username, month: "YYYY-MM", spent}`:
    validated whole (SpendingImportError names the first bad row and field; nothing is written then), then each
    customer's latest month written unless their spending belongs to a later one. Idempotent; cached profiles are
    dropped on commit."""
    return spending_import_file(path)


@database_required
def customer_cache_drop(*, customer_id: int) -> None:
    """Drop every cached entry of the customer (after the current transaction commits)."""
    entries: list[tuple[cache.CacheSpec, object]] = [
        (cache.CUSTOMER, customer_id),
        (cache.PAST_SUMMARIES, customer_id),
        (cache.PROPOSALS, customer_id),
    ]
    user_id = Customer.objects.filter(pk=customer_id).values_list("user_id", flat=True).first()
    if user_id is not None:
        entries.append((cache.CUSTOMER_OF_USER, user_id))
        entries += [(cache.API_USER, cache.token_digest(key)) for key in selectors.token_keys(user_id=user_id)]
    session_ids = ChatSession.objects.filter(customer_id=customer_id).values_list("id", flat=True)
    entries += [(cache.SESSION_ACCESS, session_id) for session_id in session_ids]
    cache.invalidate_on_commit(entries)


@database_required
def demo_customers_seed() -> list[DemoCustomer]:
    """Create the demo users, customers and API tokens if absent (idempotent); return them with their tokens."""
    user_model = get_user_model()
    seeded = []
    with transaction.atomic():
        for spec in DEMO_CUSTOMERS:
            fields = dict(spec)
            username = str(fields.pop("username"))
            user, created = user_model.objects.get_or_create(**{user_model.USERNAME_FIELD: username})
            if created:
                user.set_unusable_password()
                user.save(update_fields=["password"])
            customer, _ = Customer.objects.get_or_create(user=user, defaults=fields)
            token, _ = Token.objects.get_or_create(user=user)
            seeded.append(
                DemoCustomer(
                    username=username, display_name=customer.display_name, customer_id=customer.pk, token=token.key
                )
            )
    return seeded


def _normalized_tags(value: object, name: str = "") -> object:
    """Tags without surrounding blanks or repeats; anything but a list or tuple is left for validation to refuse.
    Allergies and diets may be given as synonyms ("peanuts", "채식"): they become their codes."""
    if not isinstance(value, list | tuple) or not all(isinstance(tag, str) for tag in value):
        return value
    if name in ("allergies", "diets"):
        return _as_codes(value, name)
    return list(dict.fromkeys(tag.strip() for tag in value))


def _as_codes(values: Sequence[str], name: str) -> list[str]:
    """Codes for allergies or diets; a synonym becomes its codes, anything else stays for validation to refuse."""
    table = vocabulary.ALLERGEN_TERMS if name == "allergies" else vocabulary.DIET_TERMS
    codes: list[str] = []
    for value in values:
        codes += table.get(vocabulary.normalize_term(value), (value.strip(),))
    return list(dict.fromkeys(codes))
