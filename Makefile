# sparsiflow developer entry points. Every target does its own set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export SPARSIFLOW_CACHE_DIR := $(CURDIR)/.cache

.PHONY: dev lock test test-unit test-integration test-latest lint format demo kafka-up kafka-down bench bench-quick bench-replay bench-target bench-connector bench-intake bench-checks bench-quality bench-consumer bench-readers bench-pencil bench-long-stream bench-graph-memory gpu-wheels clean

# Locked installs (requirements/README.md): uv, itself hash-locked, lives outside the venv so
# that the venv holds exactly requirements/dev.txt plus sparsiflow (editable).
UV_DIR := .cache/uv
UV := $(UV_DIR)/bin/uv
COMPILE = $(UV) pip compile --quiet --universal --python-version 3.11 --generate-hashes
LATEST := .venv-latest

dev: $(STAMP)

$(UV): requirements/uv.txt
	$(PYTHON) -m pip install -q --disable-pip-version-check --root-user-action=ignore \
		--require-hashes --no-deps --upgrade --target $(UV_DIR) -r requirements/uv.txt
	@touch $@

$(STAMP): pyproject.toml requirements/dev.txt scripts/install-system-tools.sh $(UV)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(UV) pip sync -q --python $(BIN)/python --require-hashes --compile-bytecode requirements/dev.txt
	$(UV) pip install -q --python $(BIN)/python --no-deps --no-build-isolation -e .
	scripts/install-system-tools.sh
	$(BIN)/python -c 'from sparsiflow.connector.kafka.devbroker import ensure_broker_jars as e; print("kafka jars:", e())'
	@touch $@

# Refresh every lock to the newest versions pyproject.toml allows (dev.txt first: the others
# are constrained to its versions, so every image runs what the tests ran).
lock: $(UV)
	$(COMPILE) --upgrade pyproject.toml requirements/build.in --extra dev --extra bench \
		-o requirements/dev.txt
	$(COMPILE) pyproject.toml -c requirements/dev.txt -o requirements/runtime.txt
	$(COMPILE) pyproject.toml --extra gpu -c requirements/dev.txt -o requirements/gpu.txt
	$(COMPILE) requirements/build.in -c requirements/dev.txt -o requirements/build.txt
	$(COMPILE) --upgrade requirements/uv.in -o requirements/uv.txt

test: dev
	$(BIN)/pytest

test-unit: dev
	$(BIN)/pytest tests/unit -q

test-integration: dev
	$(BIN)/pytest tests/integration

# The unit tests on the newest versions pyproject.toml allows, in a separate venv: drift shows
# up here (with the versions that moved) before `make lock` takes it.
test-latest: $(UV)
	rm -rf $(LATEST) && $(PYTHON) -m venv --without-pip $(LATEST)
	$(UV) pip install -q --python $(LATEST)/bin/python --upgrade -e '.[dev,bench]'
	$(UV) pip freeze -q --python $(LATEST)/bin/python | $(LATEST)/bin/python scripts/lock_drift.py requirements/dev.txt
	$(LATEST)/bin/pytest tests/unit -q -p no:cacheprovider

lint: dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

demo: dev
	$(BIN)/sparsiflow demo

# Prints only the broker address on stdout (ADDR=$(make kafka-up)): a set-up that `dev` still
# has to do reports on stderr; the broker's status lines go to .cache/devbroker/logs/.
kafka-up:
	@$(MAKE) -s --no-print-directory dev >&2
	@$(BIN)/python -m sparsiflow.connector.kafka.devbroker up

kafka-down: dev
	@$(BIN)/python -m sparsiflow.connector.kafka.devbroker down

# Engine benchmarks run on one core (DESIGN.md section 9): no BLAS, OpenMP or Numba threads.
ONE_CORE := OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1

bench: dev
	$(ONE_CORE) $(BIN)/python -m bench.run --profile full

bench-quick: dev
	$(ONE_CORE) $(BIN)/python -m bench.run --profile quick

# Issue 3's acceptance table through the user's commands (delaunay 2^18, unit weights; ~15 min).
bench-replay: dev
	$(ONE_CORE) $(BIN)/python -m bench.replay_table delaunay-2^18-unit default:K=11.4 \
		dygrass:K=6.45 default:K=16,target=60 default:K=auto,target=60 \
		default:K=16,target=70

# Holding a target (0.7x the local rule's kappa) over a replay vs sparsify to it (~25 min).
bench-target: dev
	$(ONE_CORE) $(BIN)/python -m bench.target_replay delaunay-2^18-unit \
		delaunay-2^18-lognormal grid-circuit-2^18 delaunay-2^20-unit delaunay-2^20-lognormal \
		grid-circuit-2^20 --out bench/results/latest/target_replay.json

bench-connector: dev
	$(BIN)/python -m bench.connector_throughput --scale-out --out bench/results/connector_throughput.json

# The event loop's CPU per single-update record, runs vs record by record (no broker).
bench-intake: dev
	$(BIN)/python -m bench.intake_cost --out bench/results/latest/intake_cost.json

# The kappa checks' cost in the engine, no broker: bench-quality's stream on four graph families.
bench-checks: dev
	$(BIN)/python -m bench.check_cost --out bench/results/latest/check_cost.json

# The kappa contract's cost through the worker (2^17 nodes): default target, measure only, none.
bench-quality: dev
	$(BIN)/python -m bench.connector_throughput --nodes 131072 --single-updates 100000 \
		--latency-seconds 5 --out bench/results/latest/connector_throughput-target-100.json
	$(BIN)/python -m bench.connector_throughput --nodes 131072 --single-updates 100000 \
		--latency-seconds 5 --engine target_kappa=off \
		--out bench/results/latest/connector_throughput-target-off.json
	$(BIN)/python -m bench.connector_throughput --nodes 131072 --single-updates 100000 \
		--latency-seconds 5 --engine target_kappa=off --engine kappa_change=0 \
		--out bench/results/latest/connector_throughput-target-nochecks.json

# A new downstream consumer: H from the compacted current-H topic vs every delta (2^18 nodes).
# Memory of 1,000 tiny graphs in a worker: resident, then evicted (bench/graph_memory.py).
bench-graph-memory: dev
	$(BIN)/python -m bench.graph_memory --graphs 1000 --out bench/results/graph_memory.json

bench-consumer: dev
	$(ONE_CORE) $(BIN)/python -m bench.consumer_load --churn-rounds 40 \
		--out bench/results/consumer_load.json

# The confluent-kafka readers (read_topic, recovery's log reader, a partition's recovery) with
# librdkafka's fetch.queue.backoff.ms at its default (1000 ms) and lower (bench/reader_stalls.py).
bench-pencil: dev
	$(ONE_CORE) $(BIN)/python -m bench.pencil_speed delaunay-2^18-unit delaunay-2^18-lognormal \
		grid-circuit-2^18 --out bench/results/pencil_speed.json

bench-long-stream: dev
	$(ONE_CORE) $(BIN)/python -m bench.long_stream --nodes 65536 --batches 60 \
		--out bench/results/long_stream.json

bench-readers: dev
	$(BIN)/python -m bench.reader_stalls --backoff-ms 1000 10 1 \
		--out bench/results/reader_stalls.json

# Wheels of what the engine's GPU check needs (Linux x86_64, CPython 3.11), for
# bench/gpu_check.sh on a GPU machine without network.
GPU_CHECK_DEPS = numpy scipy numba cupy-cuda12x pytest pytest-timeout hypothesis hatchling editables
gpu-wheels:
	$(PYTHON) -m pip download -q -d ../wheels --only-binary=:all: --python-version 3.11 \
		--platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 $(GPU_CHECK_DEPS)

clean:
	rm -rf $(VENV) $(LATEST) .cache .pytest_cache .mypy_cache .ruff_cache .hypothesis
