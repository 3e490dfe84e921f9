# The two commands of the quick start: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
E2E_VENV := .venv-e2e
E2E_STAMP := $(E2E_VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/chatbot
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: run serve test setup lint format bench eval e2e clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

setup: $(STAMP)

## Set everything up (.env, venv, dependencies, migrations, demo data) and serve on http://$(HOST):$(PORT)
run: $(STAMP)
	@$(BIN)/python scripts/dev_env.py
	@$(BIN)/python scripts/check_services.py --redis-of-env .env
	mkdir -p var
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py seed_demo
	@$(BIN)/python scripts/run_preamble.py --url http://$(HOST):$(PORT)
	@$(BIN)/uvicorn config.asgi:application --host $(HOST) --port $(PORT) --no-access-log --lifespan off --log-level warning

## Serve as in production (README, "Production"): gunicorn with uvicorn workers, the app preloaded (config/gunicorn.py)
serve: $(STAMP)
	$(BIN)/gunicorn config.asgi:application -c config/gunicorn.py --bind $(HOST):$(PORT)

## The whole suite: lint, format check, architecture contracts, tests (real PostgreSQL and Redis)
test: $(STAMP)
	@$(BIN)/python scripts/check_services.py --redis "$(TEST_REDIS_URL)" --postgres "$(TEST_DATABASE_URL)"
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	DATABASE_URL="$(TEST_DATABASE_URL)" TEST_REDIS_URL="$(TEST_REDIS_URL)" $(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## Benchmarks, apart from the tests: one table, bench/results/latest.json (see docs/benchmarks.md)
bench: $(STAMP)
	$(BIN)/python -m bench.run

## Evaluation of grounded turns, apart from the tests: labelled set, adversarial run, evals/results/latest.json (see docs/eval.md)
eval: $(STAMP)
	$(BIN)/python -m evals.run

# The model server's own virtualenv. The default native build of llama.cpp dies with "Illegal instruction" on CPUs
# other than the builder's: GGML_NATIVE=OFF builds for any x86-64 (about 9 minutes on 2 cores the first time; pip
# keeps the wheel in its cache).
$(E2E_STAMP): requirements-e2e.txt
	test -x $(E2E_VENV)/bin/python || $(PYTHON) -m venv $(E2E_VENV)
	$(E2E_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(E2E_VENV)/bin/python -m pip install --disable-pip-version-check -r requirements-e2e.txt
	touch $(E2E_STAMP)

## A real local model end to end, apart from the tests: SmolLM2-135M on llama-cpp-python's server (see docs/eval.md)
e2e: $(STAMP) $(E2E_STAMP)
	$(BIN)/python -m evals.e2e --server-python $(E2E_VENV)/bin/python

clean:
	rm -rf $(VENV) $(E2E_VENV) var
