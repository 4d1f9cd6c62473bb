#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine (Python 3.11, g++, root):
# system packages, Python packages, then an incremental build + editable install.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

APT_PKGS="libhdf5-dev ccache clang libclang-rt-14-dev libgtest-dev libgmock-dev libcli11-dev nlohmann-json3-dev zlib1g-dev libzstd-dev ninja-build libb2-dev libblosc-dev libsqlite3-dev libcurl4-openssl-dev openjdk-17-jre-headless"  # java: pyspark in tests/python/test_delta.py; curl: the S3 conditional PUT (src/objstore); zstd: page decompression (src/table)
missing=""
for p in $APT_PKGS; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "[setup] installing system packages:$missing"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

# nanobind pinned: the checked-in stub (_octavo.pyi) is its stubgen output; ruff and mypy: tests/python/test_static_checks.py
PY_PKGS=(scikit-build-core "nanobind==3.1.*" "pyarrow==26.0.*" numpy pandas polars duckdb pytest tables h5py zarr psutil hdf5plugin pillow deltalake pyspark "dask[dataframe,distributed]" xarray "ruff==0.17.*" "mypy==2.4.*" tqdm "moto[server]>=5.2.6")  # moto: the S3 server of tests/python/test_s3.py (5.2.0-5.2.5 answer CompleteMultipartUpload with a root element Arrow rejects)
if ! $PY - <<'PYEOF' 2>/dev/null
import importlib, sys
mods = ["scikit_build_core", "nanobind", "pyarrow", "numpy", "pandas", "polars", "duckdb", "pytest", "tables", "h5py", "zarr", "psutil", "hdf5plugin", "PIL", "deltalake", "pyspark", "dask", "dask.dataframe", "distributed", "xarray", "ruff", "mypy", "tqdm", "moto", "moto.server", "boto3", "flask"]
for m in mods:
    importlib.import_module(m)
import pyarrow
import nanobind
import importlib.metadata as md
moto = tuple(int(x) for x in md.version("moto").split(".")[:3])
sys.exit(0 if pyarrow.__version__.startswith("26.0.") and nanobind.__version__.startswith("3.1.") and moto >= (5, 2, 6) else 1)
PYEOF
then
  echo "[setup] installing Python packages"
  $PY -m pip install -q --disable-pip-version-check "${PY_PKGS[@]}"
fi

# Rebuild only when a source file changed since the last successful install, when
# the installed package is another checkout's, or when its metadata lacks an entry point
# (xarray's engine="octavo"; pyproject.toml changes reinstall too).
# One build at a time: concurrent callers wait on the lock instead of racing in build/.
mkdir -p build
exec 9>build/.setup.lock
flock 9
STAMP=build/.installed-stamp
if [ -f "$STAMP" ] && [ -z "$(find src include python CMakeLists.txt cmake pyproject.toml tests/cpp -newer "$STAMP" -print -quit)" ] \
   && $PY -c "import os, sys, octavo._octavo as m; sys.exit(0 if os.path.realpath(sys.modules['octavo'].__file__).startswith(os.path.realpath('python')) else 1)" 2>/dev/null \
   && $PY -c "import os, sys, octavo._octavo as m; sys.exit(0 if os.access(os.path.join(os.path.dirname(m.__file__), 'octavo-h5worker'), os.X_OK) else 1)" 2>/dev/null \
   && $PY -c "import sys, importlib.metadata as md; sys.exit(0 if md.entry_points(group='xarray.backends', name='octavo') else 1)" 2>/dev/null \
   && command -v octavo >/dev/null && command -v octavo-h5worker >/dev/null; then
  exit 0
fi
echo "[setup] building octavo (C++ core, CLI, Python extension, C++ tests)"
mkdir -p build
CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2} \
  $PY -m pip install -q --disable-pip-version-check --no-build-isolation --no-deps -e . 
# the HDF5 worker must sit next to the extension (octavo.fileio) and the CLI (octavo import/migrate)
$PY -c "import os, sys, octavo._octavo as m; sys.exit(0 if os.access(os.path.join(os.path.dirname(m.__file__), 'octavo-h5worker'), os.X_OK) else 1)" \
  || { echo "[setup] octavo-h5worker was not installed next to the Python extension" >&2; exit 1; }
touch "$STAMP"
