"""Who is calling: DRF authentication classes that answer from the customers cache, never with a model instance.

A warm `Authorization: Token <key>` request costs no SQL: `customers.services.api_user_get_cached` answers it from
the cache; only when it cannot is a lookup counted (per client address) and the database asked.
"""

import logging
import re
from dataclasses import dataclass

from django.conf import settings
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, SessionAuthentication, get_authorization_header
from rest_framework.request import Request

from customers import services as customers
from customers.services import CustomerNotFound, NotCached
from llm import services as llm
from llm.services import RequestRateLimited, StoreUnavailable

logger = logging.getLogger(__name__)

# DRF tokens are 40 hex characters; anything that cannot be a key is refused without a lookup, so forged
# values cannot fill the cache with "no such token" entries of arbitrary size.
_KEY = re.compile(r"[0-9A-Za-z]{1,64}")


@dataclass(frozen=True, slots=True)
class ApiPrincipal:
    """The authenticated caller, as `request.user`. `customer_id` is None for a staff user without a customer."""

    user_id: int
    customer_id: int | None
    is_staff: bool

    is_authenticated = True
    is_anonymous = False

    @property
    def pk(self) -> int:
        return self.user_id

    def __str__(self) -> str:
        return f"user {self.user_id}"


class CachedTokenAuthentication(BaseAuthentication):
    """`Authorization: Token <key>`, resolved through the customers cache."""

    keyword = "Token"

    def authenticate(self, request: Request) -> tuple[ApiPrincipal, None] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Invalid token header: expected `Token <key>`.")
        try:
            key = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        if not _KEY.fullmatch(key):
            raise exceptions.AuthenticationFailed("Invalid token.")
        try:
            user = customers.api_user_get_cached(key=key)
        except NotCached:
            _lookup_admit(request)  # only a lookup in the database counts
            user = customers.api_user_load(key=key)
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        return ApiPrincipal(user_id=user.user_id, customer_id=user.customer_id, is_staff=user.is_staff), None

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


def _lookup_admit(request: Request) -> None:
    """Count a token lookup that needs the database against the client address's THROTTLE_TOKEN_LOOKUPS_PER_MINUTE:
    a valid token is looked up about once per CUSTOMER_CACHE_TTL, so a stream of lookups is someone trying tokens.
    Beyond it: 429 before the database is asked, whether the token exists or not. Redis down: the lookup goes on
    uncounted, so that authentication keeps answering from the database through the outage."""
    try:
        llm.attempt_admit(
            scope="token-lookup",
            ident=request.META.get("REMOTE_ADDR", ""),
            limit=settings.THROTTLE_TOKEN_LOOKUPS_PER_MINUTE,
            window_seconds=60,
        )
    except RequestRateLimited as exc:
        raise exceptions.Throttled(wait=exc.retry_after) from None
    except StoreUnavailable:
        logger.warning("token_lookup_not_counted", extra={"reason": "store_unavailable"})


class CustomerSessionAuthentication(SessionAuthentication):
    """The admin's session cookie (browsable API), with CSRF checks; the user's customer is resolved (cached)."""

    def authenticate(self, request: Request) -> tuple[ApiPrincipal, None] | None:
        result = super().authenticate(request)
        if result is None:
            return None
        user = result[0]
        try:
            customer_id = customers.customer_id_get_by_user(user_id=user.pk)
        except CustomerNotFound:
            customer_id = None
        return ApiPrincipal(user_id=user.pk, customer_id=customer_id, is_staff=user.is_staff), None
