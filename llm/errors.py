"""Typed errors of `llm`. No `openai.*`, `httpx*`, `json` or `redis.*` exception leaves the app: each is
re-raised as one of these (`raise ... from exc`). `code` is stable: `chat` answers each code with its problem (status,
title and public text in one registry); `detail` says what happened, for logs and operators.
"""

from typing import Any, Self


class LLMError(Exception):
    """The base of the app's errors. A subclass declares its code in its header: `class X(LLMError,
    code="throttled")`; one that declares none keeps its base's."""

    code = "llm_error"

    def __init_subclass__(cls, code: str = "", **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if code:
            cls.code = code

    def __init__(self, detail: str = "", *, messages_added: int = 0) -> None:
        super().__init__(detail or self.__class__.__doc__ or self.code)
        self.detail = detail or (self.__class__.__doc__ or self.code).strip()
        # A turn that failed after storing tells what it left in the history (its user message: 1), so that the
        # caller can count it; 0 when it stored nothing, or answered a message stored earlier.
        self.messages_added = messages_added

    def _fields(self) -> dict[str, Any]:
        """The constructor's keyword arguments beyond `detail` and `messages_added`."""
        return {}

    def left_stored(self, messages_added: int) -> Self:
        """This error as a failed turn raises it: the same type, detail and fields, built with what the turn left
        stored (raise it `from` this one)."""
        return type(self)(self.detail, messages_added=messages_added, **self._fields())


class ModelError(LLMError, code="llm_unavailable"):
    """The model call failed (the base of the five below)."""


class LLMTimeout(ModelError, code="llm_timeout"):
    """No answer, or no next piece of a stream, within the read timeout."""


class _RetryAfter(LLMError):
    """A refusal that says when to try again: `retry_after` seconds."""

    def __init__(self, detail: str = "", *, retry_after: float | None = None, messages_added: int = 0) -> None:
        super().__init__(detail, messages_added=messages_added)
        self.retry_after = retry_after

    def _fields(self) -> dict[str, Any]:
        return {"retry_after": self.retry_after}


class LLMRateLimited(ModelError, _RetryAfter, code="llm_unavailable"):
    """The provider answered 429 after the retries, or asked to wait longer than LLM_MAX_RETRY_AFTER."""


class LLMUnavailable(ModelError, code="llm_unavailable"):
    """The endpoint refused the connection, dropped it, failed (5xx), or is misconfigured (401/403/404)."""


class LLMBadResponse(ModelError, code="llm_bad_response"):
    """The endpoint's answer was not usable."""


class LLMRejected(ModelError, code="llm_rejected"):
    """The server refused the request (llm/refusals.py): its HTTP `status` and a short `reason` of ours, never the
    server's own text."""

    def __init__(self, detail: str = "", *, status: int = 0, reason: str = "", messages_added: int = 0) -> None:
        super().__init__(
            detail or f"The model server refused the request (HTTP {status}: {reason}).", messages_added=messages_added
        )
        self.status = status
        self.reason = reason

    def _fields(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason}


class StoreUnavailable(LLMError, code="service_unavailable"):
    """The conversation store (Redis) is unavailable."""


class TurnInProgress(LLMError, code="turn_in_progress"):
    """Another turn of this session is still being processed."""


class SessionClosed(LLMError, code="session_ended"):
    """The session was ended or erased while this waited in its line; nothing was written."""


class ConversationMovedOn(LLMError, code="conversation_moved_on"):
    """The session's last message is not the one this regenerate expected; nothing was written."""


class MessageTooLong(LLMError, code="message_too_long"):
    """The message can never fit in the model's context budget."""


class NothingToRegenerate(LLMError, code="nothing_to_regenerate"):
    """The session has no user message to answer again."""


class IdempotencyConflict(LLMError, code="idempotency_conflict"):
    """This Idempotency-Key was already used with a different request."""


class InvalidMood(LLMError, code="invalid_request"):
    """The mood is not one of llm.data.MOODS."""


class TurnRateLimited(_RetryAfter, code="throttled"):
    """Too many turns in a short time."""


class RequestRateLimited(_RetryAfter, code="throttled"):
    """Too many requests in a short time."""


class TokenQuotaExceeded(TurnRateLimited):
    """The daily token quota is used up."""
