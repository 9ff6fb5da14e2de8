# sparsiflow developer entry points. Every target does its own set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export SPARSIFLOW_CACHE_DIR := $(CURDIR)/.cache

.PHONY: dev test test-unit test-integration lint format demo kafka-up kafka-down bench bench-quick bench-replay bench-connector gpu-wheels clean

dev: $(STAMP)

$(STAMP): pyproject.toml scripts/install-system-tools.sh
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	scripts/install-system-tools.sh
	$(BIN)/python -c 'from connector.devbroker import ensure_broker_jars as e; print("kafka jars:", e())'
	@touch $@

test: dev
	$(BIN)/pytest

test-unit: dev
	$(BIN)/pytest tests/unit -q

test-integration: dev
	$(BIN)/pytest tests/integration

lint: dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

demo: dev
	$(BIN)/sparsiflow demo

kafka-up: dev
	@$(BIN)/python -m connector.devbroker up

kafka-down: dev
	@$(BIN)/python -m connector.devbroker down

# Engine benchmarks run on one core (DESIGN.md section 9): no BLAS, OpenMP or Numba threads.
ONE_CORE := OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1

bench: dev
	$(ONE_CORE) $(BIN)/python -m bench.run --profile full

bench-quick: dev
	$(ONE_CORE) $(BIN)/python -m bench.run --profile quick

# Issue 3's acceptance table through the user's commands (delaunay 2^18, unit weights; ~15 min).
bench-replay: dev
	$(ONE_CORE) $(BIN)/python -m bench.replay_table delaunay-2^18-unit default:K=11.4 \
		dygrass:K=6.45 default:K=16,target=60 default:K=16,target=60,every=5 \
		default:K=16,target=70,every=5

bench-connector: dev
	$(BIN)/python -m bench.connector_throughput --out bench/results/connector_throughput.json

# Wheels of what the engine's GPU check needs (Linux x86_64, CPython 3.11), for
# bench/gpu_check.sh on a GPU machine without network.
GPU_CHECK_DEPS = numpy scipy numba cupy-cuda12x pytest pytest-timeout hypothesis hatchling editables
gpu-wheels:
	$(PYTHON) -m pip download -q -d ../wheels --only-binary=:all: --python-version 3.11 \
		--platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 $(GPU_CHECK_DEPS)

clean:
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache .hypothesis
