"""The evaluation of grounded turns (`make eval`, apart from `make test`): a labelled set of requests through the real
API, its metrics, and an adversarial run against the fake OpenAI server. See docs/eval.md."""
