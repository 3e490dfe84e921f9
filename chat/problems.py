"""The problem registry: every error code of the API with its HTTP status, title and public text, defined here once.

`chat.errors` renders them (the DRF exception handler and Django's error views in `config.urls`), `chat.openapi`
documents them, and the typed errors of `customers` and `llm` reach them by their stable `code` class attribute.
A problem's `detail` says what happened this time: the error's own text, unless the code's text is `fixed`.
"""

from dataclasses import dataclass

PROBLEM_TYPE_BASE = "https://chatbot.example/problems/"
PROBLEM_CONTENT_TYPE = "application/problem+json"
# What `customers` means by service_unavailable (the database, only): more precise than the code's own text.
DATABASE_UNAVAILABLE = "The database is unavailable; nothing was changed. Try again shortly."


@dataclass(frozen=True, slots=True)
class ProblemType:
    status: int
    title: str
    # The public text of the code: the detail when nothing more precise is said. When `fixed`, it replaces the
    # error's own text, which may name hosts, vendors or ids.
    detail: str = ""
    fixed: bool = False
    # A model failure: its detail goes on to say that the customer's message was saved, and how to get a reply.
    model_failure: bool = False
    # The schema's example detail, where a typical one differs from `detail`.
    example: str = ""


PROBLEMS: dict[str, ProblemType] = {
    "invalid_request": ProblemType(400, "Invalid request", "The request body or parameters are invalid."),
    "not_authenticated": ProblemType(401, "Not authenticated", example="Invalid token."),
    "permission_denied": ProblemType(
        403,
        "Permission denied",
        "You do not have permission to perform this action.",
        example="This account has no customer profile; customer endpoints are not available to it.",
    ),
    "not_found": ProblemType(404, "Not found", "No such resource.", fixed=True),
    "method_not_allowed": ProblemType(405, "Method not allowed"),
    "not_acceptable": ProblemType(406, "Not acceptable"),
    "session_ended": ProblemType(
        409,
        "Session ended",
        "The session has ended; open a new one to keep chatting.",
        fixed=True,
        example="The session has ended.",
    ),
    "turn_in_progress": ProblemType(
        409, "Turn in progress", example="Another turn of this session is still being processed."
    ),
    "nothing_to_regenerate": ProblemType(
        409, "Nothing to regenerate", example="The session has no user message to answer again."
    ),
    "too_many_open_sessions": ProblemType(
        409,
        "Too many open sessions",
        "You have as many open sessions as allowed; end one to open another.",
        example="You have 50 open sessions, the most allowed (50); end one to open another.",
    ),
    "conversation_moved_on": ProblemType(
        409,
        "Conversation moved on",
        "The session's last message is no longer the one this regenerate expected; nothing was changed.",
        fixed=True,
    ),
    "already_decided": ProblemType(
        409,
        "Already decided",
        "This profile proposal was accepted or declined already; nothing was changed.",
        example="This proposal was declined already.",
    ),
    "message_too_long": ProblemType(413, "Message too long", example="The message is longer than 4000 characters."),
    "unsupported_media_type": ProblemType(
        415, "Unsupported media type", example='Unsupported media type "text/plain" in request.'
    ),
    "idempotency_conflict": ProblemType(
        422, "Idempotency conflict", example="This Idempotency-Key was already used with a different request."
    ),
    "throttled": ProblemType(429, "Too many requests", "Too many requests.", example="Too many turns in a short time."),
    "internal_error": ProblemType(500, "Internal error", "An unexpected error occurred; it has been logged."),
    "llm_bad_response": ProblemType(
        502,
        "Bad response from the model",
        "The model's answer was malformed or incomplete.",
        fixed=True,
        model_failure=True,
    ),
    "llm_rejected": ProblemType(
        502,
        "Model server refused the request",
        "The model server refused the request.",
        model_failure=True,
        example="The model server refused the request (HTTP 400: the prompt does not fit the model's context).",
    ),
    "llm_unavailable": ProblemType(
        503,
        "Model unavailable",
        "The model provider could not be reached or is overloaded.",
        fixed=True,
        model_failure=True,
    ),
    "service_unavailable": ProblemType(
        503,
        "Service unavailable",
        "A backing service is unavailable; try again shortly.",
        fixed=True,
        example=DATABASE_UNAVAILABLE,
    ),
    "llm_timeout": ProblemType(
        504, "Model timeout", "The model did not answer in time.", fixed=True, model_failure=True
    ),
}

# How a model failure's detail goes on, with the hint of where to get a reply (e.g. the regenerate URL).
MESSAGE_SAVED = "{detail} Your message was saved; {retry_hint}"
# The retry hint of the API, as the schema shows it (the views put the session's own URL in).
API_RETRY_HINT = "POST /api/v1/sessions/{id}/regenerate to retry."


def example_detail(code: str) -> str:
    """A typical detail of `code`, for the schema."""
    problem = PROBLEMS[code]
    if problem.model_failure:
        return MESSAGE_SAVED.format(detail=problem.example or problem.detail, retry_hint=API_RETRY_HINT)
    return problem.example or problem.detail or problem.title
