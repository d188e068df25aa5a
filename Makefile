# Everything runs from a local .venv. torch is installed first, pinned, so that pip takes the CPU
# wheel instead of resolving a multi-GB CUDA build; override TORCH for another build.
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint typecheck docs unit bench clean

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

# The review-loop tests need Label Studio and the Argilla SDK (labelstudio, below).
unit: setup labelstudio
	$(BIN)/python -m pytest -q

# The documentation site (mkdocs.yml, docs/): --strict fails on any warning, broken links and
# anchors included. NO_MKDOCS_2_WARNING silences mkdocs-material's banner about MkDocs 2.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

test: lint typecheck docs unit

DATASETS ?= ../shared/datasets
bench: setup
	for d in ag_news sst2 banking77; do \
	  $(BIN)/python bench/quality.py $(DATASETS)/$$d.parquet --job bench/jobs/$$d.yaml \
	    --gold-column label; \
	done

clean:
	rm -rf $(VENV) $(LABEL_STUDIO_VENV) zslabel-demo out .pytest_cache .mypy_cache .ruff_cache site

# The review tools for the slow review-loop tests (tests/test_label_studio_real.py,
# tests/test_argilla_sdk.py): Label Studio and the Argilla SDK pin their own dependencies, so they
# get a virtual environment of their own (about 2 minutes and 1.1 GB, once).
.PHONY: labelstudio
LABEL_STUDIO_VENV ?= .venv-labelstudio
LABEL_STUDIO ?= label-studio==1.23.2
ARGILLA ?= argilla==2.8.0
labelstudio: $(LABEL_STUDIO_VENV)/.installed

$(LABEL_STUDIO_VENV)/.installed:
	$(PYTHON) -m venv $(LABEL_STUDIO_VENV)
	$(LABEL_STUDIO_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LABEL_STUDIO_VENV)/bin/python -m pip install --quiet "$(LABEL_STUDIO)" "$(ARGILLA)"
	touch $@
