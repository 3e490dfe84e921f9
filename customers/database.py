"""The database connection as `customers` uses it: whether it answers, handing it back before a long wait, the
decorator that turns "the database is unreachable" into DatabaseUnavailable (public through `customers.services`),
and the cursor of the statements PostgreSQL keeps prepared (`prepared_cursor`).
"""

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.db.backends.utils import CursorWrapper

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


# Statements a connection keeps prepared at most (psycopg's LRU; the least recently run is deallocated): about 0.4 MB of
# the server's memory each for the ranking's (its parsed form), so 20 bound a pooled connection's share to ~8 MB.
PREPARED_MAX = 20


@contextlib.contextmanager
def prepared_cursor() -> Iterator[CursorWrapper]:
    """A cursor for the statements a chat turn runs every time (the customer's facts, the ranking, the recording).
    On PostgreSQL with DATABASE_PREPARED_STATEMENTS on, its values are bound by the server and psycopg prepares a
    statement on the connection from its second run with the same text: the server parses it once (about 0.9 ms of
    the ranking's 7 ms of CPU at 10,000 items), and still plans it for each run's values (config/settings.py). Only
    while it is open does the connection count statements to prepare: Django's own cursors bind their values into
    the text, and counting those would keep up to PREPARED_MAX whole statements (an import's batches) in memory.
    Elsewhere, or off, an ordinary cursor. Query hooks and logging see it as any cursor's."""
    if connection.vendor != "postgresql" or not settings.DATABASE_PREPARED_STATEMENTS:
        with connection.cursor() as cursor:
            yield cursor
        return
    from django.db.backends.postgresql.base import ServerBindingCursor  # importable only with psycopg installed

    connection.ensure_connection()
    connection.validate_thread_sharing()
    with connection.wrap_database_errors:
        client = connection.connection
        client.prepared_max = PREPARED_MAX
        raw = ServerBindingCursor(client)
    wrapped = connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)
    client.prepare_threshold = 1  # prepared from the second run
    try:
        with wrapped as cursor:
            yield cursor
    finally:
        client.prepare_threshold = None  # Django's default
