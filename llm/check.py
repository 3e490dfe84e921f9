"""`llm_check`: whether the tokenizer loads offline and the configured provider answers, step by step.

Unlike the readiness probe (configuration only), this makes real calls: it is for operators, not load balancers.
"""

from llm import tokens
from llm.conf import LLMSettings, get_settings
from llm.data import CheckResult
from llm.errors import LLMError

SAMPLE = "Recommend a warm dinner near Mapo-gu for a tired customer. 피곤한 날 저녁 추천해 주세요."


def run() -> CheckResult:
    """Check each step and report it with a verdict and a detail; never raises."""
    cfg = get_settings()
    steps = [_tokenizer_step(cfg.model)]
    if cfg.provider == "offline":
        steps.append(
            ("provider", True, "offline provider (no OPENAI_API_KEY or OPENAI_BASE_URL): deterministic local answers")
        )
    else:
        steps.extend(_endpoint_steps(cfg))
    return CheckResult(ok=all(ok for _, ok, _ in steps), provider=cfg.provider, model=cfg.model, steps=tuple(steps))


def _tokenizer_step(model: str) -> tuple[str, bool, str]:
    try:
        count = tokens.count_text(SAMPLE, model=model)
    except Exception as exc:  # a check reports every failure instead of raising it
        return "tokenizer", False, f"{tokens.encoding_name(model)} failed to load ({type(exc).__name__})"
    return "tokenizer", True, f"{tokens.encoding_name(model)} loaded from llm/tiktoken_data ({count} tokens in sample)"


def _endpoint_steps(cfg: LLMSettings) -> list[tuple[str, bool, str]]:
    # Imported here: the offline quick start never needs the openai SDK.
    from llm.client import OpenAIProvider

    provider = OpenAIProvider(cfg)
    endpoint = cfg.base_url or "https://api.openai.com/v1"
    steps = []
    try:
        models = provider.list_models()
    except LLMError as exc:
        steps.append(("models", False, f"GET {endpoint}/models: {exc.code} ({exc.detail})"))
    else:
        listed = "listed" if cfg.model in models else "not listed (the endpoint may still serve it)"
        steps.append(("models", True, f"GET {endpoint}/models: {len(models)} models, {cfg.model} {listed}"))
    try:
        finish_reason = provider.probe()
    except LLMError as exc:
        steps.append(("completion", False, f"1-token completion with {cfg.model}: {exc.code} ({exc.detail})"))
    else:
        steps.append(("completion", True, f"1-token completion with {cfg.model}: answered ({finish_reason})"))
    return steps
