# Two commands on a fresh machine with Python >= 3.11 and pip:
#   make demo   sets up .venv with the engine alone and runs a small exploration
#   make test   sets up .venv with everything, builds the documentation and runs the test
#               suite (what CI runs)
#   make docs   builds the documentation site into docs/_build/html
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# What is installed in $(VENV): the engine alone (make demo), or everything (make setup, make
# test and the rest). Two stamps, so that the engine alone never passes for everything.
STAMP_ENGINE := $(VENV)/.installed-engine
STAMP := $(VENV)/.installed-all
# The exact versions every machine installs (pip constraints); `make lock` rewrites it.
LOCK := requirements.lock
EXTRAS := notebook,test,surrogate,docs

# Worker processes must not oversubscribe the cores with BLAS threads.
export OPENBLAS_NUM_THREADS ?= 1
export OMP_NUM_THREADS ?= 1

# pytest runs one test per core (pytest-xdist; most tests use one core each), handing the
# next test to whichever worker is free; `make test PARALLEL=` runs them one at a time.
PARALLEL ?= -n auto --dist worksteal

# The browser tests use Debian's Chromium (Playwright cannot download browsers here).
CHROMIUM := /usr/bin/chromium

.PHONY: setup setup-engine demo docs test test-fast test-slow test-browser lint notebook bench gpaw lock clean

setup: $(STAMP)
setup-engine: $(STAMP_ENGINE)

$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends chromium >/dev/null

# The engine alone (the package without extras): what `make demo` needs.
$(STAMP_ENGINE): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --constraint $(LOCK) -e .
	touch $(STAMP_ENGINE)

# Everything: the engine, the notebook stack, CHGNet, the test and documentation tools.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0  # the CPU build, before chgnet asks
	$(BIN)/python -m pip install --quiet --constraint $(LOCK) -e ".[$(EXTRAS)]"
	touch $(STAMP) $(STAMP_ENGINE)

demo: $(STAMP_ENGINE)
	$(BIN)/gapexplore demo --folder runs/demo

# The documentation site, into docs/_build/html, read afresh (-E). -W: any warning fails
# the build; -n: every cross-reference inside the site (pages, API objects) must resolve.
# MathJax (from the npm registry, git-ignored) goes into the site, so equations typeset offline.
DOCS_BUILD := docs/_build/html
MATHJAX := docs/_vendor/mathjax/tex-mml-chtml.js
$(MATHJAX): tools/fetch_mathjax.py
	$(PYTHON) tools/fetch_mathjax.py docs/_vendor/mathjax

docs: $(STAMP) $(MATHJAX)
	$(BIN)/sphinx-build -E -W -n --keep-going -q -b html docs $(DOCS_BUILD)

# The whole suite, slow scientific checks included (about 25 minutes on 2 cores, one test per core).
test: $(STAMP) $(CHROMIUM) gpaw docs
	$(BIN)/ruff check gapexplore tests benchmarks
	$(BIN)/python -m pytest $(PARALLEL)

test-fast: $(STAMP)
	$(BIN)/python -m pytest $(PARALLEL) -m "not slow"

test-slow: $(STAMP) $(CHROMIUM) gpaw
	$(BIN)/python -m pytest $(PARALLEL) -m slow

# JupyterLab in headless Chromium; screenshots in test-artifacts/browser/
test-browser: $(STAMP) $(CHROMIUM)
	$(BIN)/python -m pytest -m browser -s

lint: $(STAMP)
	$(BIN)/ruff check gapexplore tests benchmarks

notebook: $(STAMP)
	$(BIN)/jupyter lab notebooks

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_selection.py

# GPAW (optional DFT reference, extra "dft"): built from source against Debian's libxc, FFTW and
# OpenBLAS with g++ (gcc fails), serially (GPAW_BUILD_JOBS>1 gave a wheel without its C
# module). pip caches the built wheel, so a later fresh venv installs it without compiling.
# It needs the engine only (after `make demo`, not everything); apt-get runs only when one of
# the three Debian packages is missing, and then needs root.
GPAW_VERSION := 26.7.0
GPAW_DATA_VERSION := 1.2.1
GPAW_DEBS := libxc-dev libfftw3-dev libopenblas-dev

# How GPAW is installed into the environment whose python is $(1).
gpaw_install = dpkg -s $(GPAW_DEBS) >/dev/null 2>&1 || (apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    $(GPAW_DEBS) >/dev/null); \
	GPAW_CONFIG=$(abspath tools/gpaw-siteconfig.py) GPAW_BUILD_JOBS=1 CC=g++ \
	    $(1) -m pip install --quiet 'gpaw==$(GPAW_VERSION)' 'gpaw-data==$(GPAW_DATA_VERSION)'

gpaw: $(STAMP_ENGINE)
	$(call gpaw_install,$(BIN)/python)
	$(BIN)/python -c "import _gpaw, gpaw, gpaw.fftw, gpaw_data; \
	    assert gpaw.__version__ == '$(GPAW_VERSION)', gpaw.__version__; \
	    assert gpaw.fftw.have_fftw(), 'GPAW built without FFTW'; \
	    print('GPAW', gpaw.__version__, 'C module', _gpaw.__file__, 'FFTW yes')" \
	    || { echo "make gpaw: GPAW's C module _gpaw is missing or broken; rebuild with" \
	         "$(BIN)/python -m pip install --no-cache-dir --force-reinstall ..." >&2; exit 1; }

# Rewrite requirements.lock on purpose: resolve pyproject.toml's ranges afresh in a
# throw-away environment and record the versions (and Binder's share of them, in
# binder/requirements.txt). Then `make setup` installs them.
LOCK_VENV := .lock-venv
lock:
	rm -rf $(LOCK_VENV) && $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LOCK_VENV)/bin/python -m pip install --quiet torch==2.13.0
	$(LOCK_VENV)/bin/python -m pip install --quiet -e ".[$(EXTRAS)]"
	$(call gpaw_install,$(LOCK_VENV)/bin/python)
	$(LOCK_VENV)/bin/python tools/lock.py $(LOCK_VENV)/bin/python $(LOCK)
	$(LOCK_VENV)/bin/python tools/binder_pins.py   # binder/requirements.txt from the new lock
	rm -rf $(LOCK_VENV)

clean:
	rm -rf $(VENV) $(LOCK_VENV) runs .pytest_cache docs/_build docs/_vendor docs/reference/_generated
