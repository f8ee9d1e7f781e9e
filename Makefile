# The two set-up commands of the README, plus a few conveniences.
#   make demo   installs the example ERP in .venv and runs it end to end (SQLite, no Meta account);
#               make demo PROVEEDOR=whapi (or twilio) runs it on that provider's sandbox, in
#               its own database (example_project/taller-<provider>.sqlite3), so its notices
#               are new even after a Meta run;
#               ERP_PUERTO=8000 SANDBOX_PUERTO=8001 fix the ERP's and the sandbox's ports (by
#               default free ones) and LATENCIA_MS=300 delays every sandbox answer, e.g.
#               make demo SANDBOX_PUERTO=8001 LATENCIA_MS=300  (manage.py demo --help: options)
#   make test   installs the test extras in .venv and runs lint + the whole test suite
#   make bench  the benchmarks' quick set in their own venv (.venv-bench), one table of ratios
#   make docs   builds the documentation, docs/en and docs/es, into build/docs/<language>
#               (warnings are errors; no network)
#   make wheel-check  builds the wheel, installs it with only [redis] in a fresh venv and
#               delivers one envío through a real worker (needs Redis)
#   make test-reciente  the SQLite suite on the newest Python of the machine and the newest
#               Django the package allows, in their own venv (.venv-reciente)
# Under CI=true, `make test` also runs the suite on PostgreSQL and, beside it, test-reciente;
# it requires Redis and runs wheel-check.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
PROVEEDOR ?=
ERP_PUERTO ?=
SANDBOX_PUERTO ?=
LATENCIA_MS ?=

.PHONY: demo test test-postgres test-reciente wheel-check lint docs bench bench-env bench-completo clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

demo: $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[example]"
	$(if $(PROVEEDOR),$(if $(DATABASE_URL),,DATABASE_URL=sqlite:///$(CURDIR)/example_project/taller-$(PROVEEDOR).sqlite3 ))$(BIN)/python manage.py demo $(if $(PROVEEDOR),--proveedor $(PROVEEDOR)) \
	  $(if $(ERP_PUERTO),--puerto-erp $(ERP_PUERTO)) \
	  $(if $(SANDBOX_PUERTO),--puerto-sandbox $(SANDBOX_PUERTO)) \
	  $(if $(LATENCIA_MS),--latencia-ms $(LATENCIA_MS))

test: $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[test]"
	$(MAKE) --no-print-directory lint docs
	$(BIN)/python -m tests.services
	$(BIN)/python -m pytest -m "not postgres" $(PYTEST_ARGS)
	@case "$${CI:-}" in \
	  true|TRUE|True|1|yes) \
	    $(MAKE) --no-print-directory -j2 --output-sync=target test-postgres test-reciente && \
	    $(MAKE) --no-print-directory wheel-check ;; \
	  *) echo "(PostgreSQL pass, newest versions and installed-wheel check:" \
	       "make test-postgres test-reciente wheel-check; they run by themselves under CI=true)" ;; \
	esac

test-postgres: $(BIN)/python
	WHATSAPP_TEST_DB=postgres $(BIN)/python -m pytest $(PYTEST_ARGS)

# The newest Python (.ci/python-reciente) and, installed eagerly, the newest Django and
# dependencies the package allows. CI runs it beside the PostgreSQL pass (-j2): the SQLite
# pass waits more than it computes, so the two share the 2 cores in little more than the
# PostgreSQL pass's time. Its own Redis database and temporary directory (MEDIA_ROOT,
# pytest's tmp_path) keep the two passes from touching each other's data.
RECIENTE_PYTHON ?= $(shell .ci/python-reciente)
RECIENTE_VENV ?= .venv-reciente
RECIENTE_BIN := $(RECIENTE_VENV)/bin
RECIENTE_REDIS_URL ?= redis://127.0.0.1:6379/13

$(RECIENTE_BIN)/python:
	$(RECIENTE_PYTHON) -m venv $(RECIENTE_VENV)
	$(RECIENTE_BIN)/python -m pip install -q --upgrade pip

test-reciente: $(RECIENTE_BIN)/python
	$(RECIENTE_BIN)/python -m pip install -q --upgrade --upgrade-strategy eager -e ".[test]"
	@$(RECIENTE_BIN)/python -c 'import django, sys; print("Python", sys.version.split()[0], "Django", django.__version__)'
	mkdir -p $(RECIENTE_VENV)/tmp
	TMPDIR="$(CURDIR)/$(RECIENTE_VENV)/tmp" WHATSAPP_TEST_REDIS_URL="$(RECIENTE_REDIS_URL)" \
	  $(RECIENTE_BIN)/python -m pytest -m "not postgres" $(PYTEST_ARGS)

# A user's install: the built wheel with only [redis], a fresh venv, a real worker.
wheel-check: $(BIN)/python
	$(BIN)/python .ci/wheel-smoke

lint: $(BIN)/python
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m django makemigrations --check --dry-run --settings=tests.settings
	$(BIN)/lint-imports

# Two sites from one configuration (docs/conf.py), each language its own tree.
DOCS_LANGUAGES := en es
SPHINX_ARGS ?= -q -W --keep-going

docs: $(BIN)/python
	$(BIN)/python -m pip install -q -e ".[docs]"
	@for idioma in $(DOCS_LANGUAGES); do \
	  $(BIN)/python -m sphinx $(SPHINX_ARGS) -b html -c docs -D language=$$idioma \
	    docs/$$idioma build/docs/$$idioma || exit 1; \
	done

# The benchmarks run in their own environment (BENCH_VENV), with the peers they measure the
# app against (heyoo, pywa; requests and httpx loops) and gunicorn, never in the project's.
BENCH_VENV ?= .venv-bench
BENCH_BIN := $(BENCH_VENV)/bin

$(BENCH_BIN)/python:
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_BIN)/python -m pip install -q --upgrade pip

bench-env: $(BENCH_BIN)/python
	$(BENCH_BIN)/python -m pip install -q -e ".[test]" heyoo pywa gunicorn httpx requests

# The quick set (a few minutes) and one table of ratios; bench-completo: the full sizes.
bench: bench-env
	$(BENCH_BIN)/python -m bench

bench-completo: bench-env
	$(BENCH_BIN)/python -m bench --completo

clean:
	rm -rf $(VENV) $(BENCH_VENV) $(RECIENTE_VENV) .pytest_cache .ruff_cache *.egg-info
