# The two commands the README offers: `make bench` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A CPU build of torch, pinned and installed first: a plain `torch` would pull a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0

.PHONY: bench test setup lint clean docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q "$(TORCH_SPEC)"
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
