"""The request log: every API request the fake received, as received."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class ReceivedRequest:
    """One request to an API path, as received (control API requests are not logged)."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any  # the decoded JSON body (normally a dict), or None when there was none
    received_at: float  # time.time()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
