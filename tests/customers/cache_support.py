"""A look into the customer cache for the tests: whether an entry is held."""

from django.core.cache import cache as django_cache

from customers import cache


def is_cached(spec: cache.CacheSpec, key: object) -> bool:
    """Whether the customer cache holds an entry for `key` under `spec`."""
    return django_cache.get(spec.key(key)) is not None
