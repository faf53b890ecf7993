# Aisle: `make run` to try it, `make test` to check it. Only Python 3.11 is needed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run serve test lint install dev-install index clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch first and pinned: 2.13.0 is the local CPU build; installed first, no
# other package can pull a CUDA build in its place.
$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

# Installed too, editable and without dependencies (requirements.txt has them): Aisle's ranking
# core as a distribution (aisle-ranking), so the plugin kit is a pytest plugin here as in a plugin's
# own repository, and the example ranking plugin, which the suite checks Aisle finds.
$(VENV)/.dev: requirements-dev.txt packaging/aisle-ranking/pyproject.toml examples/aisle-novelty/pyproject.toml $(VENV)/.runtime
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e packaging/aisle-ranking
	$(BIN)/pip install --quiet --no-deps -e examples/aisle-novelty
	touch $@

install: $(VENV)/.runtime
dev-install: $(VENV)/.dev

## run: install, migrate, load the demo catalog if empty, index it, start web + worker; the worker
## trains the parser in the background if none exists (keyword rules answer meanwhile).
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py load_demo_catalog --if-empty
	$(BIN)/python manage.py build_index
	$(BIN)/python manage.py train_parser --if-missing --background
	HOST=$(HOST) PORT=$(PORT) bash docker/run-local.sh

## serve: the web tier alone (no migrations, training or worker): WEB_CONCURRENCY Daphne processes.
serve:
	HOST=$(HOST) PORT=$(PORT) $(BIN)/python -m config.serve

index: install
	$(BIN)/python manage.py build_index

## test: the whole suite; under CI against PostgreSQL and Redis, plus the embedded smoke pass.
test: dev-install
	bash .ci/test-suite.sh

lint: dev-install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) var
