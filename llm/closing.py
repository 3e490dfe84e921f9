"""Ending and erasing a session, in its turn lock's line like a turn (llm/lock.py).

Whatever was queued before the end or the erase finishes first; then the session's keys are deleted and its closed
marker set (the ERASE script), so that the turns queued after it, and a request arriving late that saw the session
open, are refused (SessionClosed, code `session_ended`) without writing anything. The marker holds no content and
lives TURN_LOCK_WAIT_SECONDS + 2 s, until every such waiter has given up on its own.
"""

import contextlib
import logging
from collections.abc import Iterator
from uuid import UUID

from llm import flow, lock, renewal, store
from llm.conf import get_settings
from llm.errors import SessionClosed, StoreUnavailable, TurnInProgress
from llm.redis import sync_client

log = logging.getLogger(__name__)


def erase(session_id: UUID) -> None:
    """Wait in line (up to TURN_LOCK_WAIT_SECONDS), then delete every key of the session and set its closed marker.
    If the line did not move within the wait, or the session was closed already, it erases all the same: a turn
    still in flight then stores nothing more (fencing) and is told TurnInProgress."""
    cfg, keys, client = get_settings(), store.session_keys(session_id), sync_client()
    with contextlib.suppress(SessionClosed, TurnInProgress):
        flow.run(
            client,
            lock.acquire(keys.lock, hold_seconds=cfg.turn_lock_ttl_seconds, wait_seconds=cfg.turn_lock_wait_seconds),
        )
    store.run(client, store.erase_call(keys, cfg))  # also drops the ticket taken above


@contextlib.contextmanager
def ending(session_id: UUID) -> Iterator[None]:
    """Wait in line (TurnInProgress after TURN_LOCK_WAIT_SECONDS; SessionClosed if the session was closed
    meanwhile), hold the lock for the block (the caller summarizes and stores the summary there), then erase the
    session as `erase` does. If the block raises, the lock is released and nothing is erased. Should Redis fail at
    the erase itself, the block's work stands: the keys expire with their TTL (a warning is logged)."""
    cfg, keys, client = get_settings(), store.session_keys(session_id), sync_client()
    lease = flow.run(
        client,
        lock.acquire(keys.lock, hold_seconds=cfg.turn_lock_ttl_seconds, wait_seconds=cfg.turn_lock_wait_seconds),
    )
    try:
        hold = lock.hold(lease, hold_seconds=cfg.turn_lock_ttl_seconds, deadline_seconds=cfg.turn_deadline_seconds)
        with renewal.renewed(hold.renew, every=hold.every):  # the summary call may be slower than the lease
            yield
    except BaseException:
        flow.run(client, lock.release_quietly(lease))
        raise
    try:
        store.run(client, store.erase_call(keys, cfg))
    except StoreUnavailable:
        log.warning("conversation_erase_deferred", extra={"session_id": str(session_id)})
