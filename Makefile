# Two commands on a fresh machine with Python >= 3.11 and pip:
#   make demo   sets up .venv (engine + notebook stack) and runs a small exploration
#   make test   sets up .venv and runs the test suite (what CI runs)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Worker processes must not oversubscribe the cores with BLAS threads.
export OPENBLAS_NUM_THREADS ?= 1
export OMP_NUM_THREADS ?= 1

# The browser tests use Debian's Chromium (Playwright cannot download browsers here).
CHROMIUM := /usr/bin/chromium

.PHONY: setup demo test test-fast test-slow test-browser lint notebook bench clean

setup: $(STAMP)

$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends chromium >/dev/null

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0  # the CPU build, before chgnet asks
	$(BIN)/python -m pip install --quiet -e ".[notebook,test,surrogate]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/gapexplore demo --folder runs/demo

# The whole suite, slow scientific checks included (about 20 minutes on 2 cores at most).
test: $(STAMP) $(CHROMIUM)
	$(BIN)/ruff check gapexplore tests benchmarks
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

test-slow: $(STAMP) $(CHROMIUM)
	$(BIN)/python -m pytest -m slow

# JupyterLab in headless Chromium; screenshots in test-artifacts/browser/
test-browser: $(STAMP) $(CHROMIUM)
	$(BIN)/python -m pytest -m browser -s

lint: $(STAMP)
	$(BIN)/ruff check gapexplore tests benchmarks

notebook: $(STAMP)
	$(BIN)/jupyter lab notebooks

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_selection.py

clean:
	rm -rf $(VENV) runs .pytest_cache
