"""Token counting with tiktoken, offline (the encoding files ship in llm/tiktoken_data/).

Interface only: being implemented.
"""

TOKENS_PER_MESSAGE = 3  # OpenAI chat format overhead per message
REPLY_PRIMING = 3  # every reply is primed with <|start|>assistant<|message|>


def count_text(text: str, *, model: str) -> int:
    """Tokens of `text` in the encoding of `model` (o200k_base for unknown models)."""
    raise NotImplementedError


def count_message(role: str, content: str, *, model: str) -> int:
    """Tokens one chat message costs in a request: its content and role plus the per-message overhead."""
    raise NotImplementedError


def count_request(messages: list[dict[str, str]] | tuple[dict[str, str], ...], *, model: str) -> int:
    """Prompt tokens of a whole request as OpenAI bills it: the messages plus the reply priming."""
    raise NotImplementedError
