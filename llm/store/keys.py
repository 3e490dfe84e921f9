"""The Redis keys of a session. The braces are a Redis Cluster hash tag: all of a session's keys live in one slot."""

from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True, slots=True)
class LockKeys:
    queue: str  # sorted set: ticket token -> ticket number
    expiries: str  # hash: ticket token -> expiry (ms, Redis clock)
    tickets: str  # counter handing out ticket numbers
    closed: str  # marker: the session was ended or erased; the line takes no more tickets (seconds, no content)

    @property
    def all(self) -> tuple[str, str, str]:
        return (self.queue, self.expiries, self.tickets)


@dataclass(frozen=True, slots=True)
class SessionKeys:
    """Every key of one session."""

    prefix: str
    messages: str
    mood: str
    summary: str
    idempotency: str  # sorted set: digests of the session's idempotency records -> their expiry (ms)
    lock: LockKeys
    constraints: str = ""  # hash: the rules the customer stated in the session (llm/store/codec.py)

    def record(self, digest: str) -> str:
        """The key of one idempotency record."""
        return f"{self.prefix}:idem:{digest}"

    @property
    def turn(self) -> tuple[str, ...]:
        """The keys a turn script touches, in the order the scripts expect them."""
        return (
            self.lock.queue,
            self.lock.expiries,
            self.messages,
            self.mood,
            self.summary,
            self.idempotency,
            self.constraints,
        )


def session_keys(session_id: UUID) -> SessionKeys:
    prefix = f"chat:{{{session_id}}}"
    return SessionKeys(
        prefix=prefix,
        messages=f"{prefix}:messages",
        mood=f"{prefix}:mood",
        summary=f"{prefix}:summary",
        idempotency=f"{prefix}:idem",
        constraints=f"{prefix}:constraints",
        lock=LockKeys(
            queue=f"{prefix}:lock",
            expiries=f"{prefix}:lock:expiry",
            tickets=f"{prefix}:lock:ticket",
            closed=f"{prefix}:closed",
        ),
    )
