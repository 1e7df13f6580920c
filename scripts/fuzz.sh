#!/usr/bin/env bash
# Builds the libFuzzer targets of spec/fuzz/ (clang, ASan + UBSan, into
# build-fuzz/) and runs each for SECONDS (default 30), two at a time, each
# with a scratch corpus first (new inputs go there) and the checked-in seeds
# of spec/fuzz/corpus/<target> second (read only). Fails on any crash, leak,
# UBSan report or timeout; the input that did it is kept under
# build-fuzz/artifacts/<target>/ (add it to the corpus once fixed).
#
#   bash scripts/fuzz.sh [SECONDS]
#
# Prints one line per target: seconds, executions, executions per second,
# coverage, corpus size; the same lines go to build-fuzz/fuzz-summary.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-30}
case "$seconds" in
  '' | *[!0-9]*) echo "usage: bash scripts/fuzz.sh [SECONDS]" >&2; exit 2 ;;
esac
parallel=2

if ! command -v clang >/dev/null 2>&1 ||
   [ ! -f "$(clang -print-file-name=libclang_rt.fuzzer-x86_64.a)" ]; then
  bash scripts/setup.sh clang libclang-rt-14-dev
fi

targets=()
for f in spec/fuzz/fuzz_*.c; do
  t=${f#spec/fuzz/fuzz_}
  targets+=("${t%.c}")
done

cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DENPHASE_FUZZ=ON >/dev/null
build_targets=()
for t in "${targets[@]}"; do
  build_targets+=(--target "fuzz_$t")
done
cmake --build build-fuzz -j "$(nproc)" "${build_targets[@]}" >/dev/null

work=$(mktemp -d /tmp/enphase-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT

# One target: fuzz for $seconds, then record its status.
run_one() {
  local t=$1 status=0
  local art="build-fuzz/artifacts/$t/"
  mkdir -p "$work/corpus-$t" "$art" "spec/fuzz/corpus/$t"
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "./build-fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$art" \
    "$work/corpus-$t" "spec/fuzz/corpus/$t" >"$work/$t.log" 2>&1 || status=$?
  if grep -q -e "ERROR: AddressSanitizer" -e "ERROR: LeakSanitizer" -e "runtime error:" \
      -e "ERROR: libFuzzer" "$work/$t.log"; then
    [ "$status" != 0 ] || status=99
  fi
  echo "$status" >"$work/$t.status"
}

running=0
for t in "${targets[@]}"; do
  if ((running >= parallel)); then
    wait -n || true
    running=$((running - 1))
  fi
  run_one "$t" &
  running=$((running + 1))
done
wait

failed=0
: >build-fuzz/fuzz-summary.txt
for t in "${targets[@]}"; do
  log="$work/$t.log"
  status=$(cat "$work/$t.status" 2>/dev/null || echo 98)
  # a run that failed early has no statistics: "?"
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n 1)
  cov=$({ grep -o 'cov: [0-9]*' "$log" || true; } | tail -n 1 | cut -d' ' -f2)
  corp=$({ grep -o 'corp: [0-9]*' "$log" || true; } | tail -n 1 | cut -d' ' -f2)
  line=$(printf "fuzz: %-6s %3s s  %10s runs  %8s/s  cov %s  corpus %s  rss %s MB" "$t" "$seconds" \
    "${runs:-?}" "${rate:-?}" "${cov:-?}" "${corp:-?}" "${rss:-?}")
  if [ "$status" != 0 ]; then
    line="$line  FAILED (exit $status)"
    failed=1
  fi
  echo "$line" | tee -a build-fuzz/fuzz-summary.txt
  if [ "$status" != 0 ]; then
    grep -A 30 -m 1 -e "ERROR:" -e "runtime error:" -e "deadly signal" "$log" || tail -n 40 "$log"
    echo "fuzz: the input is in build-fuzz/artifacts/$t/"
  fi
done
exit "$failed"
