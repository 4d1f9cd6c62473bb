#!/usr/bin/env bash
# Build the C++ prototypes against pyarrow's bundled Arrow/Parquet 26 (no octavo code).
set -euo pipefail
cd "$(dirname "$0")"
PA=$(python3 -c "import pyarrow; print(pyarrow.get_library_dirs()[0])")
INC=$(python3 -c "import pyarrow; print(pyarrow.get_include())")
mkdir -p build
for p in page_range_read parallel_write; do
  g++ -O2 -std=c++20 "$p.cc" -I"$INC" "$PA/libarrow.so.2600" "$PA/libparquet.so.2600" \
      -Wl,-rpath,"$PA" -o "build/$p"
done
echo "built: $(pwd)/build/{page_range_read,parallel_write}"
