"""The one renewer of held turn locks: a thread per process (started with the first lease it keeps) renews every
lease registered with it, each at its own period, until the lease is let go or found lost. A turn, sync or streamed,
registers its lease from the lock's hold step to its end (llm/flow.py), and a session's end for its block
(llm/closing.py), so a slow model call, or a slow summary between two apps, never outlives the lease. A turn shorter
than the period costs no round trip. The renewals run on the sync client, off every event loop.
"""

import contextlib
import itertools
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from llm import store
from llm.errors import StoreUnavailable
from llm.redis import sync_client


@dataclass(slots=True)
class _Lease:
    renew: store.Call  # the LOCK_RENEW script of the lease: 1 while it is held
    every: float
    due: float  # time.monotonic() of its next renewal


class _Renewer:
    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._leases: dict[int, _Lease] = {}
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, renew: store.Call, every: float) -> int:
        with self._changed:
            lease_id = next(self._ids)
            self._leases[lease_id] = _Lease(renew, every, time.monotonic() + every)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="llm-lease-renewer", daemon=True)
                self._thread.start()
            self._changed.notify()
        return lease_id

    def discard(self, lease_id: int) -> None:
        with self._changed:
            self._leases.pop(lease_id, None)

    def _run(self) -> None:
        while True:
            with self._changed:
                now = time.monotonic()
                due = [(i, lease) for i, lease in self._leases.items() if lease.due <= now]
                if not due:
                    wait = min((lease.due for lease in self._leases.values()), default=now + 60) - now
                    self._changed.wait(wait)
                    continue
            for lease_id, lease in due:
                with contextlib.suppress(StoreUnavailable):  # tried again next period, while the lease may last
                    if store.run(sync_client(), lease.renew) != 1:
                        self.discard(lease_id)  # lost: the write scripts refuse from now on; renewing is moot
                        continue
                lease.due = time.monotonic() + lease.every

    def reset(self) -> None:
        """In a forked child: the parent's thread and leases are not its own."""
        self._changed = threading.Condition()
        self._leases, self._thread = {}, None


_renewer = _Renewer()
os.register_at_fork(after_in_child=_renewer.reset)


@contextlib.contextmanager
def renewed(renew: store.Call, *, every: float) -> Iterator[None]:
    """Renew a lease with its LOCK_RENEW call every `every` seconds while the block runs."""
    lease_id = _renewer.add(renew, every)
    try:
        yield
    finally:
        _renewer.discard(lease_id)
