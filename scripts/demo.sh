#!/usr/bin/env bash
# Runs the demo: generates sample data, writes a bundle, appends, reads back, prints the tree.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
PY=${PYTHON:-python3}
exec $PY examples/demo.py "$@"
