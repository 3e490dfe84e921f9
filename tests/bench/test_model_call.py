"""bench.model_call builds its llm settings by hand (it runs without Django): they must stay complete as the
settings grow, or the benchmark fails inside `make bench` only."""

from bench import model_call
from llm.conf import LLMSettings


def test_the_benchmarks_settings_are_complete():
    assert isinstance(model_call._settings("http://127.0.0.1:9/v1"), LLMSettings)
