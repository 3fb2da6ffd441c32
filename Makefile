# facekit: `make book` builds the report on the default profile, `make test` runs every check.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PROFILE ?= cpu
STAMP := $(VENV)/.facekit-setup

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

.PHONY: setup book test lint pytest smoke data lab clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -r requirements.txt 2>&1 | { grep -v "^WARNING: Location" || true; }
	$(BIN)/python -m pip install -q --no-deps -r requirements-nodeps.txt 2>&1 | { grep -v "^WARNING: Location" || true; }
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e . 2>&1 | { grep -v "^WARNING: Location" || true; }
	@touch $(STAMP)

book: setup
	$(BIN)/facekit book --profile $(PROFILE)

lint: setup
	$(BIN)/ruff check facekit tests notebooks benchmarks

pytest: setup
	$(BIN)/pytest -q

smoke: setup
	$(BIN)/facekit book --profile smoke

test: lint pytest smoke

data: setup
	$(BIN)/facekit data status --profile $(PROFILE)

lab: setup
	$(BIN)/jupyter lab --no-browser $(if $(filter 0,$(shell id -u)),--allow-root,)

clean:
	rm -rf book/_build book/*.ipynb results data/cache
