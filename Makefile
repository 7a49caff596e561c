# bprop: every target creates .venv on first use and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help test test-slow lint format gradcheck train bench docs clean

help:
	@echo "make test       run the test suite (creates .venv)"
	@echo "make lint       ruff check, ruff format --check, mypy"
	@echo "make gradcheck  the finite-difference battery (bprop gradcheck)"
	@echo "make train      train the default example"
	@echo "make bench      speed and memory benchmarks (table + benchmarks/latest.json)"
	@echo "make docs       regenerate docs/config-reference.md from the config models"
	@echo "make clean      remove .venv, caches and build files"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

lint: $(STAMP)
	$(BIN)/ruff check backprop_cli tests benchmarks
	$(BIN)/ruff format --check backprop_cli tests benchmarks
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format backprop_cli tests benchmarks
	$(BIN)/ruff check --fix backprop_cli tests benchmarks

gradcheck: $(STAMP)
	$(BIN)/bprop gradcheck

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

docs: $(STAMP)
	$(BIN)/python -c "from backprop_cli.config.reference import reference_markdown as r; \
		open('docs/config-reference.md', 'w', encoding='utf-8').write(r())"

bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py --unset-openblas-env

train: $(STAMP)
	$(BIN)/bprop train configs/mnist5k.yaml
