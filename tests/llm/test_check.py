"""`llm_check`: each step reported with a verdict, and never an exception."""

from llm import check
from tests.fakes.openai import Fault


def _steps(result) -> dict[str, tuple[bool, str]]:
    return {name: (ok, detail) for name, ok, detail in result.steps}


def test_offline_the_tokenizer_loads_and_the_provider_says_it_is_offline(settings):
    settings.LLM_MODEL = "gpt-4o-mini"
    result = check.run()
    steps = _steps(result)
    assert (result.ok, result.provider, result.model) == (True, "offline", "gpt-4o-mini")
    assert steps["tokenizer"][0] is True
    assert "o200k_base" in steps["tokenizer"][1]
    assert steps["provider"][0] is True
    assert "offline" in steps["provider"][1]


def test_an_answering_endpoint_passes_both_steps(fake_openai, settings):
    settings.LLM_MODEL = "fake-model"
    result = check.run()
    steps = _steps(result)
    assert (result.ok, result.provider) == (True, "openai")
    assert steps["models"] == (True, f"GET {fake_openai.base_url}/models: 1 models, fake-model listed")
    assert steps["completion"][0] is True
    calls = [(r.method, r.path) for r in fake_openai.requests]
    assert calls == [("GET", "/v1/models"), ("POST", "/v1/chat/completions")]


def test_a_failing_completion_is_reported_not_raised(fake_openai, settings):
    settings.LLM_MODEL = "missing-model"
    fake_openai.script(Fault.status(404, "The model does not exist."))
    result = check.run()
    steps = _steps(result)
    assert result.ok is False
    assert steps["models"][0] is True
    assert "missing-model not listed" in steps["models"][1]
    assert steps["completion"][0] is False
    assert "llm_unavailable" in steps["completion"][1]


def test_an_unreachable_endpoint_fails_every_step_without_raising(settings, closed_port):
    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{closed_port}/v1"
    settings.LLM_CONNECT_TIMEOUT = 0.5
    result = check.run()
    assert result.ok is False
    verdicts = [(name, ok) for name, ok, _ in result.steps]
    assert verdicts == [("tokenizer", True), ("models", False), ("completion", False)]
