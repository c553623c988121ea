VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Every dependency, direct or not, pinned with its hashes (Python 3.11, Linux x86_64).
LOCK := requirements.lock

.PHONY: run test lint bench lock clean

$(STAMP): pyproject.toml $(LOCK)
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m pip check || { echo "a dependency is missing: if pyproject.toml lists one $(LOCK) lacks, run make lock"; exit 1; }
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m app serve

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check app tests bench
	$(VENV)/bin/ruff format --check app tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: $(STAMP)
	$(PY) -m bench $(BENCH_ARGS)

# Re-resolve the lock after changing dependencies in pyproject.toml; versions already pinned
# stay unless LOCK_ARGS=--upgrade (everything) or LOCK_ARGS="--upgrade-package NAME".
lock:
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet uv
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --generate-hashes --quiet \
		--python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
		--custom-compile-command "make lock" $(LOCK_ARGS) -o $(LOCK)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
