#!/usr/bin/env bash
# Runs the demos: examples/demo.py (sample data: a star catalogue, a DeepLabCut pose table,
# a wide table written, appended and read back, the tree), then examples/pytables_tutorial.py
# (the PyTables tutorial on octavo: groups, attributes, compressed arrays, soft link, file nodes),
# then examples/gpu_usage.py (SQLite databases imported, analysed with DuckDB, checked against pandas/polars),
# then examples/cluster.py (a bundle read by dask worker processes and xarray).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
PY=${PYTHON:-python3}
$PY examples/demo.py "$@"
echo
echo "== examples/pytables_tutorial.py =="
$PY examples/pytables_tutorial.py
echo
echo "== examples/gpu_usage.py (monthly SQLite databases -> one table -> DuckDB) =="
$PY examples/gpu_usage.py
echo
echo "== examples/cluster.py (dask LocalCluster, xarray engine=\"octavo\") =="
$PY examples/cluster.py
