# Two commands: `make demo` and `make test`. Both set up .venv when it is missing or stale.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-slow lint typecheck bench clean

setup: $(STAMP)

# torch is installed first, pinned to the CPU wheel; the project's range is then satisfied
# and pip pulls no CUDA build.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[data,baselines,dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/gmcnn demo

lint: $(STAMP)
	$(VENV)/bin/ruff check
	$(VENV)/bin/ruff format --check

typecheck: $(STAMP)
	$(VENV)/bin/mypy src/gmcnn/groups src/gmcnn/structured src/gmcnn/nn src/gmcnn/testing.py

test: lint typecheck
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

bench: $(STAMP)
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
