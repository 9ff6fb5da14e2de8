#!/usr/bin/env bash
# GPU check, self-contained, for a single-GPU machine without network (about 5-8 minutes):
# the GPU parity tests, then the walk backends' benchmark on Delaunay 2^20 and 2^22 (JSON in
# bench/results/gpu_check.json). Python packages the machine lacks are installed from wheels
# placed beside the repository (make gpu-wheels writes them to ../wheels on a networked machine;
# WHEELS=DIR points elsewhere).
set -euo pipefail
cd "$(dirname "$0")/.."
wheels="${WHEELS:-../wheels}"
venv="${GPU_VENV:-.venv-gpu}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv --system-site-packages "$venv"
fi
if ! "$venv/bin/python" -c 'import engine, cupy, pytest, hypothesis' 2>/dev/null; then
  # the engine alone (no Kafka stack): its numerical dependencies, then the project itself
  "$venv/bin/pip" install -q --no-index --find-links "$wheels" numpy scipy numba cupy-cuda12x \
    pytest pytest-timeout hypothesis hatchling editables
  "$venv/bin/pip" install -q --no-index --find-links "$wheels" --no-deps --no-build-isolation -e .
fi
export NUMBA_CACHE_DIR="${NUMBA_CACHE_DIR:-$PWD/.cache/numba}"
"$venv/bin/python" -c 'from sparsiflow.engine.walks.backends import cupy_usable; assert cupy_usable(), "no usable CUDA device through CuPy"'
"$venv/bin/python" -m pytest -q -m gpu -p no:cacheprovider tests/unit/test_backends.py
"$venv/bin/python" -m bench.gpu_check --exponents 20 22
