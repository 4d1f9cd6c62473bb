#!/usr/bin/env bash
# Runs every test: the C++ GoogleTest suite (through ctest) and the Python suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
PY=${PYTHON:-python3}
BUILD_DIR=$(ls -d build/cp*/ 2>/dev/null | head -1)
echo "== C++ tests (ctest in $BUILD_DIR) =="
ctest --test-dir "$BUILD_DIR" --output-on-failure -j2
echo "== Python tests =="
$PY -m pytest -q tests/python "$@"
