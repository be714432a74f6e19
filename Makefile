# The two commands: `make run` and `make test`. Everything they need is installed here.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install migrate messages demo browser-deps bench check clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

# Compiled translations are committed; recompile when gettext is present so edits show up.
messages: install
	@if command -v msgfmt >/dev/null 2>&1; then $(PY) manage.py compilemessages --ignore=.venv -v 0; fi

migrate: install
	$(PY) manage.py migrate --noinput -v 0

demo: migrate
	$(PY) manage.py seed_demo

run: messages demo
	@echo ""
	@echo "  Portal:     http://$(HOST):$(PORT)/"
	@echo "  Admin:      http://$(HOST):$(PORT)/admin/"
	@echo "  API docs:   http://$(HOST):$(PORT)/api/v1/docs/"
	@echo ""
	$(PY) manage.py runserver $(HOST):$(PORT)

# Debian's Chromium for the browser tests; installed when we are root and it is missing.
browser-deps:
	@if { [ ! -x /usr/bin/chromium ] || [ ! -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ]; } && [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing Chromium for the browser tests..."; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null) \
		|| echo "Chromium could not be installed; browser tests will be skipped."; \
	fi

# Two workers: the machines have two cores (pytest-xdist; each worker gets its own test database).
TEST_WORKERS ?= 2

test: messages browser-deps
	$(PY) -m pytest -q -n $(TEST_WORKERS)

check: install
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

bench: migrate
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles
