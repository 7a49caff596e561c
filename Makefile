# bprop: every target creates .venv on first use and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help test test-slow lint format gradcheck train bench docs mutation clean

help:
	@echo "make test       run the test suite (creates .venv)"
	@echo "make lint       ruff check, ruff format --check, mypy"
	@echo "make gradcheck  the finite-difference battery (bprop gradcheck)"
	@echo "make train      train the default example"
	@echo "make bench      speed and memory benchmarks (table + benchmarks/latest.json)"
	@echo "make docs       regenerate docs/config-reference.md from the config models"
	@echo "make mutation   mutation testing of the numerical core (mutmut; minutes)"
	@echo "make clean      remove .venv, caches and build files"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow || [ $$? -eq 5 ]  # 5: no test is marked slow

lint: $(STAMP)
	$(BIN)/ruff check backprop_cli tests benchmarks
	$(BIN)/ruff format --check backprop_cli tests benchmarks
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format backprop_cli tests benchmarks
	$(BIN)/ruff check --fix backprop_cli tests benchmarks

gradcheck: $(STAMP)
	$(BIN)/bprop gradcheck
	@if $(BIN)/python -c "import numba" 2>/dev/null; then $(BIN)/bprop gradcheck --kernels fused; \
	else echo "numba not installed: the fused path's gradient check is skipped"; fi

# The mutants of the numerical core ([tool.mutmut] in pyproject.toml), then the score.
mutation: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[mutation]'
	rm -rf mutants
	$(BIN)/mutmut run > mutants.log 2>&1 || (tail -40 mutants.log; exit 1)
	$(BIN)/mutmut export-cicd-stats > /dev/null
	@$(BIN)/python -c "import json; s = json.load(open('mutants/mutmut-cicd-stats.json')); \
		caught = s['killed'] + s['timeout'] + s['segfault']; counted = s['total'] - s['skipped']; \
		print(f\"mutation score: {caught}/{counted} killed = {100 * caught / counted:.1f} %\", \
		      f\"({s['survived']} survived, {s['no_tests']} reached by no test)\")"

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis \
		mutants mutants.log
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

docs: $(STAMP)
	$(BIN)/python -c "from backprop_cli.config.reference import reference_markdown as r; \
		open('docs/config-reference.md', 'w', encoding='utf-8').write(r())"

bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py --unset-openblas-env

train: $(STAMP)
	$(BIN)/bprop train configs/mnist5k.yaml
