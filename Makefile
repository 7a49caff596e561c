# bprop: every target creates .venv on first use and installs what it needs, at the versions
# pinned in constraints.txt (`make lock` refreshes it; `make test-latest` tries the newest).
#   make train   bprop and its runtime dependencies only
#   make test    adds the optional extras and the test and lint tools
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LOCK := constraints.txt
RUNTIME := $(VENV)/.runtime-installed
DEV := $(VENV)/.dev-installed
INSTALL = $(BIN)/python -m pip install --quiet --constraint $(LOCK)

# pytest in a base folder of its own, so a suite running beside this one (pytest keeps only the
# newest three folders per user) never deletes its files; kept, and named, when a test failed.
define pytest
	@base=$$(mktemp -d "$${TMPDIR:-/tmp}/bprop-pytest.XXXXXX") && \
	$(or $(2),$(BIN))/python -m pytest --basetemp="$$base/run" $(1); status=$$?; \
	if [ $$status -eq 0 ]; then rm -rf "$$base"; else echo "the tests' files are in $$base"; fi; \
	exit $$status
endef

.PHONY: help test test-slow test-latest docs-test lint format gradcheck train bench bench-search \
	docs lock \
	mutation clean

help:
	@echo "make train       train the default example (creates .venv: bprop and its runtime dependencies)"
	@echo "make test        run the test suite (adds the extras and test tools to .venv)"
	@echo "make test-slow   the tests marked slow (kept out of make test)"
	@echo "make docs-test   run every block of README.md in a fresh copy of the project"
	@echo "make lint        ruff check, ruff format --check, mypy"
	@echo "make format      ruff format and ruff check --fix"
	@echo "make gradcheck   the finite-difference battery (bprop gradcheck)"
	@echo "make bench       speed and memory benchmarks (table + benchmarks/latest.json)"
	@echo "make bench-search random search, TPE and TPE with pruning to a target (minutes)"
	@echo "make docs        regenerate docs/config-reference.md from the config models"
	@echo "make lock        re-pin constraints.txt to the newest versions pyproject.toml allows"
	@echo "make test-latest the suite on the newest allowed versions (in .venv-latest)"
	@echo "make mutation    mutation testing of the numerical core (mutmut; minutes)"
	@echo "make clean       remove .venv, caches and build files"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUNTIME): pyproject.toml $(LOCK) | $(BIN)/python
	$(INSTALL) -e .
	@touch $@

$(DEV): pyproject.toml $(LOCK) | $(BIN)/python
	$(INSTALL) -e '.[dev]'
	@touch $@ $(RUNTIME)

train: $(RUNTIME)
	$(BIN)/bprop train configs/mnist5k.yaml

test: $(DEV)
	$(call pytest,-q -m "not slow")

test-slow: $(DEV)
	$(call pytest,-q -m slow) || [ $$? -eq 5 ]  # 5: no test is marked slow

docs-test: $(DEV)
	$(call pytest,-q -p readme README.md)

lint: $(DEV)
	$(BIN)/ruff check backprop_cli tests benchmarks
	$(BIN)/ruff format --check backprop_cli tests benchmarks
	$(BIN)/mypy

format: $(DEV)
	$(BIN)/ruff format backprop_cli tests benchmarks
	$(BIN)/ruff check --fix backprop_cli tests benchmarks

gradcheck: $(RUNTIME)
	$(BIN)/bprop gradcheck
	@if $(BIN)/python -c "import numba" 2>/dev/null; then $(BIN)/bprop gradcheck --kernels fused; \
	else echo "numba not installed: the fused path's gradient check is skipped"; fi

# uv resolves every extra for every platform and Python bprop supports; pip installs from the pins.
lock: | $(BIN)/python
	$(BIN)/python -m pip install --quiet 'uv==0.13.9'  # the resolver itself pinned too
	$(BIN)/uv pip compile pyproject.toml --all-extras --universal --python-version 3.11 \
		--upgrade --quiet --output-file $(LOCK)

test-latest:
	[ -x .venv-latest/bin/python ] || $(PYTHON) -m venv .venv-latest
	.venv-latest/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager -e '.[dev]'
	$(call pytest,-q -m "not slow",.venv-latest/bin)

# The mutants of the numerical core ([tool.mutmut] in pyproject.toml), then the score.
mutation: $(DEV)
	$(INSTALL) -e '.[mutation]'
	rm -rf mutants
	$(BIN)/mutmut run > mutants.log 2>&1 || (tail -40 mutants.log; exit 1)
	$(BIN)/mutmut export-cicd-stats > /dev/null
	@$(BIN)/python -c "import json; s = json.load(open('mutants/mutmut-cicd-stats.json')); \
		caught = s['killed'] + s['timeout'] + s['segfault']; counted = s['total'] - s['skipped']; \
		print(f\"mutation score: {caught}/{counted} killed = {100 * caught / counted:.1f} %\", \
		      f\"({s['survived']} survived, {s['no_tests']} reached by no test)\")"

clean:
	rm -rf $(VENV) .venv-latest .venv-jax build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache \
		.hypothesis mutants mutants.log
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

docs: $(RUNTIME)
	$(BIN)/python -c "from backprop_cli.config.reference import reference_markdown as r; \
		open('docs/config-reference.md', 'w', encoding='utf-8').write(r())"

# JAX, a peer the benchmark times beside bprop and PyTorch, in an environment of its own; where it
# cannot be installed (no registry), the benchmark goes on without it and says so.
JAX_VENV := .venv-jax
$(JAX_VENV)/.installed: benchmarks/requirements-jax.txt
	[ -x $(JAX_VENV)/bin/python ] || $(PYTHON) -m venv $(JAX_VENV)
	$(JAX_VENV)/bin/python -m pip install --quiet -r benchmarks/requirements-jax.txt \
		&& touch $@ || echo "JAX could not be installed: make bench goes on without it"

bench: $(DEV) $(JAX_VENV)/.installed
	$(BIN)/python benchmarks/bench.py --unset-openblas-env --jax-python $(JAX_VENV)/bin/python

bench-search: $(DEV)
	$(BIN)/python benchmarks/search_bench.py --unset-openblas-env
