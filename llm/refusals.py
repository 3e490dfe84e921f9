"""Whether an error answer is the server refusing the request, and why, read from its status and body.

A refusal is not an outage: the same request would be refused again, so it is never retried. It is

- any 4xx but 401, 403, 404 (a wrong key, base URL or model: configuration), 408, 409 and 429 (try again), or
- a 500 whose body is a validation error of the request: llama-cpp-python's server answers an unknown
  `response_format` type that way, with pydantic's list of errors as the message (`[{'type': 'literal_error',
  'loc': ('body', 'response_format', 'type'), 'msg': "Input should be 'text' or 'json_object'", ...}]`).

Its `reason` is one of a few fixed phrases, never the server's own text (which may quote the request: the customer's
messages). `shape` says the refusal is about the structured-output request shape (the body names
`response_format`), so that another shape may be accepted (llm/structured.py).
"""

import json
import re
from dataclasses import dataclass

NOT_REFUSALS = frozenset({401, 403, 404, 408, 409, 429})
# pydantic's validation errors of a request body, as a Python repr (llama-cpp-python) or as JSON (FastAPI's 422).
_VALIDATION = re.compile(r"""['"]loc['"]\s*:\s*[(\[]\s*['"]body['"]""")
_CONTEXT = re.compile(r"context[_ ]length|context window|maximum context|too many tokens|exceeds? the context")

SHAPE = "structured output (response_format) not accepted"
CONTEXT = "the prompt does not fit the model's context"
PARAMETERS = "the request's parameters were not accepted"
REFUSED = "the request was refused"


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    reason: str  # one of the phrases above
    shape: bool  # about response_format: another request shape may be accepted


def refusal_of(status: int, body: object) -> Refusal | None:
    """The refusal an error answer (`status`, its decoded JSON body or text) states, or None when it is not one."""
    text = (body if isinstance(body, str) else json.dumps(body, default=str)).lower()
    validation = bool(_VALIDATION.search(text))
    if not (400 <= status < 500 and status not in NOT_REFUSALS) and not (status == 500 and validation):
        return None
    if "response_format" in text:
        return Refusal(status, SHAPE, shape=True)
    if _CONTEXT.search(text):
        return Refusal(status, CONTEXT, shape=False)
    return Refusal(status, PARAMETERS if validation else REFUSED, shape=False)
