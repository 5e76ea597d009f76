# Autonomy OS: `make demo` runs the product, `make test` runs the whole suite.
# Both create .venv from requirements.lock first. They use SQLite and an embedded
# Redis unless DATABASE_URL / REDIS_URL point at real services.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
PYTEST_ARGS ?=

# Find a Python 3.12+: PYTHON if given, else python3.13/python3.12/python3 on PATH,
# else a pyenv-installed 3.12+ (pyenv shims only work with PYENV_VERSION set).
define find_python
for c in "$(PYTHON)" python3.13 python3.12 python3; do \
  [ -n "$$c" ] || continue; \
  if "$$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then \
    "$$c" -c 'import sys; print(sys.executable)'; exit 0; fi; \
done; \
if command -v pyenv >/dev/null 2>&1; then \
  for v in $$(pyenv versions --bare 2>/dev/null | grep -E '^3\.(1[2-9]|[2-9][0-9])(\.[0-9]+)?$$' | sort -V -r); do \
    p="$$(pyenv prefix "$$v" 2>/dev/null)/bin/python3"; \
    if [ -x "$$p" ]; then echo "$$p"; exit 0; fi; \
  done; \
fi; \
echo "Python 3.12+ not found: install it or run make PYTHON=/path/to/python3.12" >&2; exit 1
endef

.PHONY: setup demo test lint format lock bench-decide clean

$(VENV)/.installed: requirements.lock
	@set -e; py="$$($(find_python))"; \
	if [ ! -x $(PY) ]; then echo "creating $(VENV) with $$py"; "$$py" -m venv $(VENV); fi
	$(PY) -m pip install --quiet --disable-pip-version-check uv==0.13.8
	$(PY) -m uv pip install --quiet --python $(PY) -r requirements.lock
	@touch $@

setup: $(VENV)/.installed
	$(PY) manage.py migrate --noinput

demo: setup
	$(PY) manage.py seed_demo
	$(PY) manage.py run_embedded --port $(PORT)

test: setup
	$(PY) -m autonomy.embedded -- $(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(VENV)/.installed
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

lock: $(VENV)/.installed
	$(PY) -m uv pip compile pyproject.toml --group dev --universal --python-version 3.12 -o requirements.lock

bench-decide: $(VENV)/.installed
	bench/decide

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-* .pytest_cache
