# facekit: `make book` builds the report on the default profile, `make test` runs every check.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PROFILE ?= cpu
# chapters side by side (facekit book --jobs; README, "Side by side"): 1.11x on the cold smoke book here, but a
# chapter with fewer threads trains other weights, so the cpu book runs one chapter at a time with every core
JOBS ?= 1
SMOKE_JOBS ?= 2
# pytest's worker processes (pytest-xdist): one per core; tests spend much of their time waiting on the kernels and
# subprocesses they start, so one process alone leaves the second core idle
PYTEST_WORKERS ?= auto
REMOTE ?= origin
STAMP := $(VENV)/.facekit-setup
# JupyterLab's settings inside the environment only: the paired notebooks/*.py open as notebooks (jupytext)
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings/overrides.json

# A PYTHON that pyenv holds but does not put on PATH (python3.12 on the build machines) is taken from pyenv.
PY := $(or $(shell $(PYTHON) -c 'import sys; print(sys.executable)' 2>/dev/null),$(lastword $(wildcard $(shell pyenv root 2>/dev/null)/versions/*/bin/$(PYTHON))),$(PYTHON))

# Data comes from a mirror directory when there is one (a lab share; ../shared/data on the build machines).
FACEKIT_MIRROR ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),)
FACEKIT_WEIGHTS ?= $(if $(wildcard ../shared/weights),$(abspath ../shared/weights),)
export FACEKIT_MIRROR FACEKIT_WEIGHTS
# Never wait on a model hub; keep third-party tools' caches inside the project.
export HF_HUB_OFFLINE := 1
export YOLO_OFFLINE := 1
export YOLO_CONFIG_DIR := $(CURDIR)/data/cache/ultralytics
export DEEPFACE_HOME := $(CURDIR)/data/cache/deepface
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: setup book gpu-book test lint pytest smoke data lab publish clean

setup: $(STAMP) $(LAB_SETTINGS)

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	@$(PY) -c 'import sys; sys.exit(sys.version_info[:2] not in ((3, 11), (3, 12)))' 2>/dev/null || { \
	  echo "facekit needs Python 3.11 or 3.12, not '$(PYTHON)' ($$($(PY) -V 2>&1 | head -1)): mediapipe 0.10.21, the last release that ships the Face Mesh and iris models the book uses, has no wheel for newer Pythons; pass PYTHON=python3.12 or PYTHON=python3.11" >&2; exit 2; }
	@if [ -x $(BIN)/python ] && [ "$$($(BIN)/python -c 'import sys; print(sys.version_info[:2])')" != "$$($(PY) -c 'import sys; print(sys.version_info[:2])')" ]; then \
	  echo "$(VENV) holds $$($(BIN)/python -V), not $$($(PY) -V): remove it, or pass VENV=.venv-$$($(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])')" >&2; exit 2; fi
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@# pip compiles every module up front (about 65 s of setup here): keep it, PYTHONDONTWRITEBYTECODE=1 is set on
	@# these machines, so a module left uncompiled is compiled again by every process that imports it
	$(BIN)/python -m pip install -q -r requirements.txt 2>&1 | { grep -v "^WARNING: Location" || true; }
	$(BIN)/python -m pip install -q --no-deps -r requirements-nodeps.txt 2>&1 | { grep -v "^WARNING: Location" || true; }
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e . 2>&1 | { grep -v "^WARNING: Location" || true; }
	@touch $(STAMP)

$(LAB_SETTINGS): $(STAMP)
	$(BIN)/jupytext-config --settings-file $@ set-default-viewer python

book: setup
	$(BIN)/facekit book --profile $(PROFILE) --jobs $(JOBS)

# every chapter on the GPU (papermill batch); a failing chapter is rendered with its error, the status page written
gpu-book: setup
	FACEKIT_DEVICE=cuda $(BIN)/facekit book --profile $(PROFILE) --keep-going

lint: setup
	$(BIN)/ruff check facekit tests notebooks benchmarks

pytest: setup
	$(BIN)/pytest -q -n $(PYTEST_WORKERS)

smoke: setup
	$(BIN)/facekit book --profile smoke --jobs $(SMOKE_JOBS)

test: lint pytest smoke

data: setup
	$(BIN)/facekit data status --profile $(PROFILE)

lab: setup
	$(BIN)/jupyter lab --no-browser $(if $(filter 0,$(shell id -u)),--allow-root,) notebooks/00_data.py

# the built HTML (book/_build/html) to the gh-pages branch of REMOTE, with ghp-import
publish: setup
	$(BIN)/facekit publish --remote $(REMOTE)

clean:
	rm -rf book/_build book/*.ipynb results data/cache
