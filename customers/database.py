"""The database connection as `customers` uses it: whether it answers, handing it back before a long wait, and the
decorator that turns "the database is unreachable" into DatabaseUnavailable. Public through
`customers.services`.
"""

import functools
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import DatabaseError, InterfaceError, OperationalError, connection

from customers.data import Health
from customers.errors import DatabaseUnavailable

# The services' logger: "database unavailable" has always been logged under this name.
logger = logging.getLogger("customers.services")

P = ParamSpec("P")
R = TypeVar("R")


def database_required(func: Callable[P, R]) -> Callable[P, R]:
    """Turn "the database is unreachable" into DatabaseUnavailable; constraint errors and bugs pass unchanged."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (OperationalError, InterfaceError) as exc:
            logger.warning("database unavailable", extra={"operation": func.__name__, "error": type(exc).__name__})
            raise DatabaseUnavailable(f"database unavailable during {func.__name__}") from exc

    return wrapper


def database_health() -> Health:
    """Whether the database answers a trivial query."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return Health(ok=False, detail=f"database unreachable ({type(exc).__name__})")
    return Health(ok=True, detail="ok")


def database_connection_release() -> None:
    """Hand this thread's database connection back (to the pool) before a long wait that needs none, such as a
    model call: held through it, every turn in flight would keep a connection from all other requests. The next
    query takes one again. A connection inside a transaction is kept, since the transaction lives on it."""
    if not connection.in_atomic_block:
        connection.close()
