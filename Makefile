# The two commands the README offers: `make bench` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch is pinned and installed first: a plain `torch` requirement would pull a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0
# PyTorch's CPU-only wheel index. Where it answers (5 s probe), pip may take the CPU build from it
# (2.13.0+cpu ranks above PyPI's 2.13.0); where it does not, TORCH_SPEC comes from the configured
# package index as before. Override it (a mirror of the CPU index), or empty it to skip it:
#   make setup TORCH_INDEX=          make setup TORCH_INDEX=https://mirror.example/whl/cpu
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu

.PHONY: bench test setup lint clean docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	@if [ -n "$(TORCH_INDEX)" ] && $(BIN)/python -c "import sys, urllib.request; \
	    urllib.request.urlopen(sys.argv[1].rstrip('/') + '/torch/', timeout=5)" "$(TORCH_INDEX)" \
	    2>/dev/null; then \
	  echo "torch: $(TORCH_SPEC), CPU build from $(TORCH_INDEX)"; \
	  $(BIN)/pip install -q --extra-index-url "$(TORCH_INDEX)" "$(TORCH_SPEC)"; \
	else \
	  echo "torch: $(TORCH_INDEX) not reachable; $(TORCH_SPEC) from the configured package index"; \
	  $(BIN)/pip install -q "$(TORCH_SPEC)"; \
	fi
	$(BIN)/pip install -q -e ".[deep,dask,test,docs]"
	touch $@

setup: $(VENV)/.installed

bench: setup
	$(BIN)/bench run

test: setup docs
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# the documentation site, warnings as errors (a broken link or a missing page fails)
docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir $(VENV)/site

lint: setup
	$(BIN)/ruff check bench plugins tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info
