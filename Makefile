# Two commands for a newcomer: `make serve` (install + start on SQLite with the shipped model)
# and `make test` (install + run every test). Everything else is optional.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install install-dev serve test lint bench model

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-dev: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'

serve: install
	$(BIN)/triage serve --upgrade-db

test: install-dev
	$(BIN)/python -m pytest

lint: install-dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy triage tickets

model: install
	$(BIN)/triage train --data training_data/inquiries --taxonomy training_data/taxonomy.json \
		--faq training_data/faq.json --user-dict training_data/userdict.txt --out models/default

bench: install-dev
	$(BIN)/python benchmarks/bench_speed.py
	$(BIN)/python benchmarks/bench_public.py
