#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ (clang, with ASan+UBSan) in build/fuzz and runs each for
# N seconds (default 60) from a generated seed corpus. Fails on the first crash, leak, hang or
# sanitizer report; the reproducer is left as build/fuzz/artifacts/<target>/crash-*.
# Needs clang and libclang_rt.fuzzer (Debian bookworm: apt-get install clang libclang-rt-14-dev).
# Usage: bash scripts/fuzz.sh [seconds] [target...]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}; shift || true
TARGETS=${*:-condition manifest zarr_meta unpickle page_decoders}
B=${OCTAVO_FUZZ_DIR:-build/fuzz}
if [ ! -f "$B/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DOCTAVO_SANITIZE=address,undefined -DOCTAVO_BUILD_FUZZERS=ON >/dev/null
fi
cmake --build "$B" -j"${JOBS:-$(nproc)}" --target $(for t in $TARGETS; do echo "fuzz_$t"; done)
python3 fuzz/make_seeds.py "$B/seeds"
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
for t in $TARGETS; do
  mkdir -p "$B/corpus/$t" "$B/artifacts/$t"
  echo "== fuzz_$t: ${SECS}s =="
  # -rss_limit_mb: a hostile input may not make us allocate without bound either
  rc=0
  "$B/fuzz/fuzz_$t" "$B/corpus/$t" "$B/seeds/$t" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 \
    -max_len=65536 -artifact_prefix="$B/artifacts/$t/" -print_final_stats=1 > "$B/fuzz_$t.log" 2>&1 || rc=$?
  grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY)|runtime error" "$B/fuzz_$t.log" || true
  if [ "$rc" -ne 0 ]; then tail -40 "$B/fuzz_$t.log"; echo "fuzz_$t FAILED (rc $rc): see $B/artifacts/$t/"; exit 1; fi
done
echo "[fuzz] OK: no crash in $TARGETS (${SECS}s each)"
