# The two set-up commands of the README, plus a few conveniences.
#   make demo   installs the example ERP in .venv and runs it end to end (SQLite, no Meta account);
#               make demo PROVEEDOR=whapi (or twilio) runs it on that provider's sandbox
#   make test   installs the test extras in .venv and runs lint + the whole test suite
#   make wheel-check  builds the wheel, installs it with only [redis] in a fresh venv and
#               delivers one envío through a real worker (needs Redis)
# Under CI=true, `make test` also runs the suite on PostgreSQL, requires Redis and runs
# wheel-check.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
PROVEEDOR ?=

.PHONY: demo test test-postgres wheel-check lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

demo: $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[example]"
	$(BIN)/python manage.py demo $(if $(PROVEEDOR),--proveedor $(PROVEEDOR))

test: $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test]"
	$(MAKE) --no-print-directory lint
	$(BIN)/python -m tests.services
	$(BIN)/python -m pytest -m "not postgres" $(PYTEST_ARGS)
	@case "$${CI:-}" in \
	  true|TRUE|True|1|yes) $(MAKE) --no-print-directory test-postgres wheel-check ;; \
	  *) echo "(PostgreSQL pass and installed-wheel check: make test-postgres wheel-check;" \
	       "they run by themselves under CI=true)" ;; \
	esac

test-postgres: $(BIN)/python
	WHATSAPP_TEST_DB=postgres $(BIN)/python -m pytest $(PYTEST_ARGS)

# A user's install: the built wheel with only [redis], a fresh venv, a real worker.
wheel-check: $(BIN)/python
	$(BIN)/python .ci/wheel-smoke

lint: $(BIN)/python
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m django makemigrations --check --dry-run --settings=tests.settings
	$(BIN)/lint-imports

# The peers bench_entrega measures beside the app are installed here, never as extras.
bench: $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test]" heyoo pywa gunicorn
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
