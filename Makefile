# Aftercare. `make run` runs the product, `make test` runs the whole suite: both need only
# Python 3.11+, git and make (PostgreSQL and the Celery broker are embedded when not configured).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell $(PYTHON) -c "import hashlib,sys;print(hashlib.sha256(open('pyproject.toml','rb').read()).hexdigest()[:12])")

.PHONY: run test test-integration fuzz lint format typecheck bench clean

# mypy's Django plugin imports the settings: give it a configuration that connects to nothing.
TYPECHECK_ENV := DJANGO_SECRET_KEY=typecheck-only-secret-key-0123456789abcdef \
	DATABASE_URL=postgres://typecheck@127.0.0.1:1/typecheck CELERY_BROKER_URL=memory:// EMAIL_URL=consolemail:// \
	AFTERCARE_PUBLIC_URL=https://typecheck.invalid CACHE_URL=locmemcache://

$(STAMP): pyproject.toml
	@$(PYTHON) -c "import sys; sys.exit(0 if sys.version_info >= (3, 11) else 'Aftercare needs Python 3.11 or newer')"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==25.3
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $@

## The product: embedded PostgreSQL + filesystem broker unless DATABASE_URL / CELERY_BROKER_URL are set.
run: $(STAMP)
	DJANGO_DEBUG=$${DJANGO_DEBUG:-true} $(BIN)/python manage.py runstack

## The whole suite, on the embedded PostgreSQL or on DATABASE_URL. Integration tests skip without brokers.
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Only the tests that need real outside services (see .ci/run for the variables they read).
test-integration: $(STAMP)
	$(BIN)/python -m pytest -m integration $(PYTEST_ARGS)

## The long fuzz pass (minutes): no generated request gets a 5xx. AFTERCARE_FUZZ_EXAMPLES sets the budget.
fuzz: $(STAMP)
	AFTERCARE_FUZZ=1 $(BIN)/python -m pytest -m fuzz tests/fuzz $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(TYPECHECK_ENV) $(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)
	$(TYPECHECK_ENV) $(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH)

clean:
	rm -rf $(VENV) .data .mypy_cache .ruff_cache .pytest_cache .hypothesis
