# Everything runs from a local .venv. torch is installed first, pinned, so that pip takes the CPU
# wheel instead of resolving a multi-GB CUDA build; override TORCH for another build.
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint typecheck unit bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(BIN)/zslabel demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/python -m pytest -q

test: lint typecheck unit

DATASETS ?= ../shared/datasets
bench: setup
	for d in ag_news sst2 banking77; do \
	  $(BIN)/python bench/quality.py $(DATASETS)/$$d.parquet --job bench/jobs/$$d.yaml \
	    --gold-column label; \
	done

clean:
	rm -rf $(VENV) zslabel-demo out .pytest_cache .mypy_cache .ruff_cache
