# Every target sets up what it needs; a fresh machine needs only Python 3.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint bench train eval clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,web]'
	touch $(STAMP)

run: install
	bash scripts/run.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The whole suite on the embedded default (SQLite, browser tests included), then the web suite
# again on a real PostgreSQL server that the script installs and starts when missing.
test: install lint
	bash scripts/ensure-postgres.sh
	bash scripts/ensure-browser.sh
	$(BIN)/pytest
	TOUSU_DB=postgresql PGPORT=55432 $(BIN)/pytest tests/web

bench: install
	bash scripts/ensure-postgres.sh
	bash scripts/ensure-wrk.sh
	$(BIN)/python bench/bench_triage.py
	$(BIN)/python bench/bench_extract.py
	$(BIN)/python bench/bench_http.py
	$(BIN)/python bench/bench_queue.py

train: install
	$(BIN)/tousu train

eval: install
	$(BIN)/tousu eval

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
