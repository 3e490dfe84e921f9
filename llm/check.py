"""`llm_check`: whether the tokenizer loads offline and the configured endpoint completes the app's own requests,
step by step.

Unlike the readiness probe (configuration only), this makes real calls: it is for operators, not load balancers. It
sends what a turn sends: the system prompt with a two-item candidate block and a customer message, asking for the
structured reply, once in one piece and once streamed, through the same client (so the structured-output shape is
negotiated as a turn would, llm/structured.py). It reports the shape that worked, whether the reply matched the
schema, whether the stream carried usage, and the time to the first reply text.
"""

import asyncio
import time

from llm import answers, prompts, structured, tokens
from llm.answers import Answer, Grounds
from llm.conf import LLMSettings, get_settings
from llm.data import Candidate, CheckResult, CustomerFacts, TurnContext
from llm.errors import LLMError
from llm.providers import ModelRequest, OfflineInput

SAMPLE = "Recommend a warm dinner near Mapo-gu for a tired customer. 피곤한 날 저녁 추천해 주세요."
CONTEXT = TurnContext(
    customer_id=0,
    customer=CustomerFacts(
        display_name="Check",
        birth_year=None,
        home_area="Seoul, Mapo-gu",
        preferred_language="en",
        currency="KRW",
        monthly_limit_minor=300_000,
        remaining_limit_minor=200_000,
        preferences=("spicy", "korean"),
        allergies=("peanut",),
    ),
    candidates=(
        Candidate(
            external_id="check-soup",
            kind="restaurant",
            name="Mapo Kimchi Stew House",
            area="Seoul, Mapo-gu",
            price_minor=12_000,
            currency="KRW",
            tags=("korean", "spicy", "soup"),
            allergens=(),
            food=True,
        ),
        Candidate(
            external_id="check-walk",
            kind="activity",
            name="Gyeongui Line Forest Park walk",
            area="Seoul, Mapo-gu",
            price_minor=None,
            currency="KRW",
            tags=("walk", "park"),
        ),
    ),
)


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


def turn_request(cfg: LLMSettings) -> ModelRequest:
    """The reply request of a turn: the sample customer's system prompt (two candidates) and message."""
    system = prompts.system_prompt(CONTEXT, max_cards=cfg.recommendations_max)
    return ModelRequest(
        messages=({"role": "system", "content": system}, {"role": "user", "content": SAMPLE}),
        purpose="reply",
        max_tokens=cfg.reply_reserve,
        offline=OfflineInput(context=CONTEXT, max_cards=cfg.recommendations_max),
    )


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

    request, grounds = turn_request(cfg), Grounds(CONTEXT, max_cards=cfg.recommendations_max)
    started = time.monotonic()
    try:
        completion = answers.complete(provider, request, grounds)
    except LLMError as exc:
        steps.append(("turn", False, f"structured turn with {cfg.model}: {exc.code} ({exc.detail})"))
    else:
        shape = structured.mode_for(cfg.structured_output, cfg.base_url, cfg.model)
        detail = f"structured turn answered in {_ms(started)}, structured output: {shape}; {_verdict(completion)}"
        steps.append(("turn", True, detail))

    started = time.monotonic()
    try:
        completion, first = asyncio.run(_streamed(provider, request, grounds))
    except LLMError as exc:
        steps.append(("stream", False, f"streamed turn with {cfg.model}: {exc.code} ({exc.detail})"))
    else:
        usage = (
            "usage sent by the server"
            if completion.usage.source == "server"
            else "no usage sent (counted with the tokenizer)"
        )
        first_text = f"first reply text after {round((first - started) * 1000)} ms" if first else "no reply text"
        detail = f"streamed turn: {first_text}, done in {_ms(started)}; {usage}; {_verdict(completion)}"
        steps.append(("stream", True, detail))
    return steps


async def _streamed(provider, request: ModelRequest, grounds: Grounds) -> tuple[Answer, float | None]:
    """The streamed Answer, and when its first reply text arrived (time.monotonic())."""
    first = completion = None
    async for item in answers.stream(provider, request, grounds):
        if isinstance(item, Answer):
            completion = item
        elif first is None:
            first = time.monotonic()
    return completion, first


def _verdict(completion: Answer) -> str:
    valid = "matches" if completion.schema_valid else "does not match"
    return f"the reply {valid} the schema, {len(completion.cards)} of {len(CONTEXT.candidates)} candidates as cards"


def _ms(started: float) -> str:
    return f"{round((time.monotonic() - started) * 1000)} ms"
