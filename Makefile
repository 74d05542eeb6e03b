# ragops: `make run` starts the service on embedded defaults, `make test` runs the whole suite.
# Both set up .venv from the hash-pinned lock file first.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup run test lint format typecheck pytest lock bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: setup
	$(BIN)/ragops serve

test: setup lint typecheck pytest

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

format: setup
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

typecheck: setup
	$(BIN)/mypy

# pytest exits 5 when it collects nothing: that is a failure here, as any non-zero exit is.
pytest: setup
	$(BIN)/pytest -q -p no:cacheprovider

lock:
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --all-extras --generate-hashes --python-version 3.11 -o requirements.lock

bench: setup
	$(BIN)/python bench/retrieval.py --dataset ../shared/data/scifact

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache
