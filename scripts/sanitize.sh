#!/usr/bin/env bash
# ASan + UBSan (+ LSan, part of ASan) build of the engine, the C++ tests and the CLI in build/asan,
# then the whole C++ suite and a few CLI smoke runs under it. Exits non-zero on any report.
# Arrow comes uninstrumented from the pyarrow wheel: its internals are not checked, our calls into it are.
# Usage: bash scripts/sanitize.sh [extra gtest args, e.g. --gtest_filter='Where*']
set -euo pipefail
cd "$(dirname "$0")/.."
B=${OCTAVO_ASAN_DIR:-build/asan}
JOBS=${JOBS:-$(nproc)}
start=$(date +%s)
if [ ! -f "$B/build.ninja" ]; then
  cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOCTAVO_BUILD_TESTS=ON \
    -DOCTAVO_SANITIZE=address,undefined -DOCTAVO_WERROR=ON >/dev/null
fi
cmake --build "$B" -j"$JOBS" --target octavo_tests octavo_cli
echo "[sanitize] build: $(( $(date +%s) - start )) s"

# halt_on_error + exitcode: the first report fails the run. detect_leaks: LSan at exit.
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:exitcode=86:detect_leaks=1:strict_string_checks=1:check_initialization_order=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=87"
export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan.supp:print_suppressions=0"

t=$(date +%s)
"$B/tests/cpp/octavo_tests" --gtest_brief=1 "$@"
echo "[sanitize] C++ suite: $(( $(date +%s) - t )) s"

# CLI smoke runs: import, tree/info/head, where (with and without an index), put/cat, log, gc.
CLI="$B/src/octavo"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
printf 'x,y,s\n1,2.5,a\n2,3.5,b\n3,4.5,c\n4,5.5,a\n' > "$tmp/in.csv"
printf 'hello sanitizer\n' > "$tmp/blob.txt"
"$CLI" import "$tmp/in.csv" "$tmp/b:/t" >/dev/null
"$CLI" tree "$tmp/b" >/dev/null
"$CLI" info "$tmp/b:/t" >/dev/null
"$CLI" head "$tmp/b:/t" -n 2 >/dev/null
"$CLI" where "$tmp/b:/t" "x > 1 & s == 'a'" --stats >/dev/null
"$CLI" index "$tmp/b:/t" create x >/dev/null
"$CLI" where "$tmp/b:/t" "x >= 2" --json >/dev/null
"$CLI" put "$tmp/blob.txt" "$tmp/b:/f" >/dev/null
cmp <("$CLI" cat "$tmp/b:/f") "$tmp/blob.txt"
"$CLI" export "$tmp/b:/t" "$tmp/out.parquet" >/dev/null
"$CLI" log "$tmp/b" >/dev/null
"$CLI" snapshot "$tmp/b" v1 -m smoke >/dev/null
"$CLI" gc "$tmp/b" --keep-last 1 >/dev/null
# Malformed input must be an error message, not a sanitizer report (exit 86/87).
for bad in "x >" "((((((((((x" "x == 'unterminated"; do
  rc=0; "$CLI" where "$tmp/b:/t" "$bad" >/dev/null 2>&1 || rc=$?
  if [ "$rc" -ge 80 ] || [ "$rc" -eq 0 ]; then echo "[sanitize] where '$bad' exited $rc"; exit 1; fi
done
echo "[sanitize] OK: no ASan/UBSan/LSan report ($(( $(date +%s) - start )) s in all)"
