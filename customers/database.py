"""The database connection as `customers` uses it: the decorator of every public function, which turns "the
database is unreachable" into DatabaseUnavailable and hands the connection back when the call returns, whether
the database answers (public through `customers.services`), and how a turn's statements run, their values bound by
the server and kept prepared: `prepared_cursor` (one plan for all values) and `planned_row` (planned for each run's
values).
"""

import contextlib
import functools
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
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


# Statements a connection keeps prepared at most (psycopg's LRU; the least recently run is deallocated): about 0.4 MB of
# the server's memory each for the ranking's (its parsed form), 0.15 to 0.2 MB for the facts' and the recording's
# with their plan (pg_backend_memory_contexts), so 20 bound a pooled connection's share to ~8 MB.
PREPARED_MAX = 20


@contextlib.contextmanager
def prepared_cursor() -> Iterator[CursorWrapper]:
    """A cursor for the small statements a chat turn runs every time (the customer's facts, the recording). On
    PostgreSQL with DATABASE_PREPARED_STATEMENTS on, its values are bound by the server and psycopg prepares a
    statement on the connection from its second run: the server parses it once and, from the sixth run, runs one plan
    for all values (PostgreSQL's `plan_cache_mode` auto), where planning was most of their cost. They find rows by
    key, so no value calls for another plan. Elsewhere, or off, an ordinary cursor."""
    if not _prepares():
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
    # Query hooks and logging see the cursor as any cursor's.
    wrapped = connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)
    # Only while the cursor is open does the connection count statements to prepare: Django's own cursors bind their
    # values into the text, and counting those would keep up to PREPARED_MAX whole statements (an import's batches)
    # in memory.
    client.prepare_threshold = 1  # prepared from the second run
    try:
        with wrapped as cursor:
            yield cursor
    finally:
        client.prepare_threshold = None  # Django's default


def planned_row(sql: str, params: Sequence[object]) -> tuple:
    """The one row of `sql`, a statement whose best plan depends on its values (a turn's ranking: its subsets choose
    their scans by how common the request's words are and how large the catalog is). On PostgreSQL with
    DATABASE_PREPARED_STATEMENTS on, it is prepared like `prepared_cursor`'s (parsed once) and planned for each
    run's values: `plan_cache_mode` is set to force_custom_plan for it alone, in one pipeline with the statement and
    the reset (one network round trip). Elsewhere, or off, an ordinary cursor."""
    if not _prepares():
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()
    connection.ensure_connection()
    client = connection.connection
    # One implicit transaction until the pipeline syncs: a failed statement rolls the setting back with it.
    with connection.wrap_database_errors, client.pipeline():
        client.execute("SET plan_cache_mode = force_custom_plan")
        with prepared_cursor() as cursor:
            cursor.execute(sql, params)
            client.execute("RESET plan_cache_mode")
            return cursor.fetchone()


def _prepares() -> bool:
    return connection.vendor == "postgresql" and settings.DATABASE_PREPARED_STATEMENTS
