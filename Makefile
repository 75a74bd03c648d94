# Premia: the usual commands. `make demo` is all a newcomer needs.
VENV ?= .venv
PY := $(VENV)/bin/python
PREMIA := $(VENV)/bin/premia
CATALOGS := core/translations $(wildcard plugins/*/translations) $(wildcard examples/*/*/translations)

.PHONY: demo install translations extract test test-sqlite lint

demo: install translations
	$(PREMIA) demo

install: $(VENV)/.installed node_modules/.package-lock.json

# With the example external plugin, installed the way a third party's is; tests exercise it.
$(VENV)/.installed: setup.cfg pyproject.toml examples/premia-greeting/pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e ./examples/premia-greeting
	touch $@

# Front-end libraries (QR decoder…), pinned by package-lock.json, served by the app: no CDN.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

# Compile every catalog (.po → .mo); the .mo files are build output, not committed.
translations: install
	@for dir in $(CATALOGS); do $(VENV)/bin/pybabel -q compile -d $$dir -D messages || exit 1; done

# Refresh the catalogs from the source (after changing user-facing strings).
extract: install
	$(VENV)/bin/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o core/translations/messages.pot core tenants themes
	$(VENV)/bin/pybabel update -i core/translations/messages.pot -d core/translations -N
	@for dir in $(wildcard plugins/*/translations); do \
		$(VENV)/bin/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o $$dir/messages.pot $$(dirname $$dir) && \
		$(VENV)/bin/pybabel update -i $$dir/messages.pot -d $$dir -N || exit 1; done

test: install translations
	$(VENV)/bin/pytest

test-sqlite: install translations
	PREMIA_TEST_DATABASE_URL=sqlite:///$(CURDIR)/instance/test.db $(VENV)/bin/pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
