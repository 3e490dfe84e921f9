"""The database connection as `customers` uses it: the decorator of every public function, which turns "the
database is unreachable" into DatabaseUnavailable and hands the connection back when the call returns, and whether
the database answers (public through `customers.services`).
"""

import contextlib
import functools
import logging
import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import DatabaseError, InterfaceError, OperationalError, connection

from customers.data import Health
from customers.errors import DatabaseUnavailable

# The services' logger: "database unavailable" has always been logged under this name.
logger = logging.getLogger("customers.services")

P = ParamSpec("P")
R = TypeVar("R")


# How deep this thread is in public calls: the connection goes back when the outermost one returns.
_calls = threading.local()


def database_required(func: Callable[P, R]) -> Callable[P, R]:
    """Turn "the database is unreachable" into DatabaseUnavailable; constraint errors and bugs pass unchanged.

    When the outermost such call returns, this thread's connection goes back to the pool (outside a transaction,
    which lives on it): a caller that waits next, on a model call that can take minutes, holds none meanwhile, so
    turns in flight cannot keep connections from every other request. The next call takes one again."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        depth = getattr(_calls, "depth", 0)
        _calls.depth = depth + 1
        try:
            return func(*args, **kwargs)
        except (OperationalError, InterfaceError) as exc:
            logger.warning("database unavailable", extra={"operation": func.__name__, "error": type(exc).__name__})
            raise DatabaseUnavailable(f"database unavailable during {func.__name__}") from exc
        finally:
            _calls.depth = depth
            if depth == 0:
                _release()

    return wrapper


def _release() -> None:
    if connection.in_atomic_block:
        return
    # A connection that fails to close is dropped all the same; the call's own outcome is what the caller needs.
    with contextlib.suppress(DatabaseError):
        connection.close()


def database_health() -> Health:
    """Whether the database answers a trivial query."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return Health(ok=False, detail=f"database unreachable ({type(exc).__name__})")
    return Health(ok=True, detail="ok")
