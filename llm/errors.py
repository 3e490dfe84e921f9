"""Typed errors of `llm`. No `openai.*`, `httpx*`, `json` or `redis.*` exception leaves the app: each is
re-raised as one of these (`raise ... from exc`). `code` is stable; `chat` maps it to an HTTP problem.
"""


class LLMError(Exception):
    code = "llm_error"
    # Set by a turn that failed after storing: the messages it left in the history (its user message, 1), so that
    # the caller can count them. 0 when it stored nothing, or answered a message stored earlier.
    messages_added = 0

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.__class__.__doc__ or self.code)
        self.detail = detail or (self.__class__.__doc__ or self.code).strip()


class ModelError(LLMError):
    """The model call failed: no answer in time, a refusal or outage of the provider, or an unusable answer."""

    code = "llm_unavailable"


class LLMTimeout(ModelError):
    """The model did not answer in time."""

    code = "llm_timeout"


class LLMRateLimited(ModelError):
    """The model provider is rate limiting us."""

    code = "llm_unavailable"

    def __init__(self, detail: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class LLMUnavailable(ModelError):
    """The model provider could not be reached or failed."""

    code = "llm_unavailable"


class LLMBadResponse(ModelError):
    """The model's answer was malformed or incomplete."""

    code = "llm_bad_response"


class StoreUnavailable(LLMError):
    """The conversation store (Redis) is unavailable."""

    code = "service_unavailable"


class TurnInProgress(LLMError):
    """Another turn of this session is still being processed."""

    code = "turn_in_progress"


class MessageTooLong(LLMError):
    """The message can never fit in the model's context budget."""

    code = "message_too_long"


class NothingToRegenerate(LLMError):
    """The session has no user message to answer again."""

    code = "nothing_to_regenerate"


class IdempotencyConflict(LLMError):
    """This Idempotency-Key was already used with a different request."""

    code = "idempotency_conflict"


class TurnRateLimited(LLMError):
    """Too many turns in a short time."""

    code = "throttled"

    def __init__(self, detail: str = "", *, retry_after: float) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class TokenQuotaExceeded(TurnRateLimited):
    """The daily token quota is used up."""
