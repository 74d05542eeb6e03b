# ragops: `make run` starts the service on embedded defaults, `make test` runs the whole suite.
# Both set up .venv from the hash-pinned lock file first.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup run test lint format typecheck suite pytest audit lock bench clean image

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: setup
	$(BIN)/ragops serve

test: setup lint typecheck suite

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/actionlint .github/workflows/*.yml

format: setup
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

typecheck: setup
	$(BIN)/mypy

# pytest exits 5 when it collects nothing: that is a failure here, as any non-zero exit is.
# The suite waits on servers and subprocesses more than it computes, so it runs in
# TEST_WORKERS parallel pytest-xdist workers (`make test TEST_WORKERS=0` runs it in one
# process); a test file stays on one worker, so its module fixtures start once. The 15
# slowest tests are listed at the end.
TEST_WORKERS ?= 3
PYTEST_ARGS := -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile --durations=15
pytest: setup
	$(BIN)/pytest $(PYTEST_ARGS)

# `make test` runs pytest and the audit side by side (scripts/suite.sh): the audit's history
# scan computes while the suite waits; its output follows pytest's.
suite: setup
	scripts/suite.sh $(MAKE) $(BIN) $(PYTEST_ARGS)

# The security audit of spec Task 4.6. The offline checks must pass; `deps` needs the
# vulnerability service, which may be unreachable: its report ("not audited" or findings) is
# printed and kept under var/audit/deps/, but does not fail the build.
audit: setup
	$(BIN)/ragops audit code -o var/audit/code
	$(BIN)/ragops audit secrets -o var/audit/secrets
	$(BIN)/ragops audit config -o var/audit/config
	$(BIN)/ragops audit owasp -o var/audit/owasp
	-$(BIN)/ragops audit deps -o var/audit/deps --deps-timeout 300

lock:
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --all-extras --generate-hashes --python-version 3.11 -o requirements.lock

# Every benchmark, each bounded in time; each prints a table and writes bench/results/*.json.
bench: setup
	timeout 1800 $(BIN)/python bench/retrieval.py --dataset ../shared/data/scifact
	test ! -f bench/ingest.py || timeout 1200 $(BIN)/python bench/ingest.py
	timeout 600 $(BIN)/python bench/load.py
	timeout 300 $(BIN)/python bench/cache.py

# The container image, tagged with the version and main-<short commit> (scripts/image-tags.sh).
image:
	docker build -f deploy/Dockerfile $$(scripts/image-tags.sh --build-args) .

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache
