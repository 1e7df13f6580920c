#!/usr/bin/env bash
# The benchmarks of lua-enphase against the local simulator (not part of the
# test suite: nothing here passes or fails on numbers).
#
#   bash bench/run.sh                 # every benchmark, ~3-5 minutes
#   bash bench/run.sh token toggle    # some of them: token schedules toggle memory fleet simulate start mqtt optimum
#
# Environment: BENCH_REPEATS (default 30) runs per median, BENCH_MEMORY_OPS
# (10000), BENCH_VALGRIND_OPS (1000), BENCH_SEED_MAX_N (100: larger seed
# fleets are extrapolated), ENPHASE_SEED (the seed guide, default
# ../shared/seed/000_5a29bb429159451f.txt).
# The tables (markdown) go to stdout and to bench/last-run.md; progress to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh time valgrind gnuplot-nox

ALL=(token schedules toggle memory fleet simulate start mqtt optimum)
if (($#)); then
  names=("$@")
else
  names=("${ALL[@]}")
fi
for n in "${names[@]}"; do
  [[ -f "bench/$n.lua" && "$n" != common ]] || { echo "bench: unknown benchmark $n (one of: ${ALL[*]})" >&2; exit 2; }
done

out=bench/last-run.md
{
  echo "## Benchmark run $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "* machine: $(nproc) CPU(s), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'),"\
    "$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM, $(uname -sr)"
  echo "* software: $(lua5.4 -v 2>&1 | cut -d' ' -f1-2), $(curl --version | head -n1 | cut -d' ' -f1-2 ),"\
    "bash ${BASH_VERSION%%(*}, valgrind $(valgrind --version | sed 's/valgrind-//')"
  if [[ "$(git rev-parse --show-toplevel 2>/dev/null)" == "$PWD" ]]; then
    echo "* commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- lua src bin || echo ' (+ uncommitted changes in lua/, src/ or bin/)')"
  else
    echo "* commit: unknown (not a git checkout)"
  fi
  echo "* repeats per median: ${BENCH_REPEATS:-30}"
  for n in "${names[@]}"; do
    lua5.4 "bench/$n.lua"
  done
} | tee "$out"
echo >&2
echo "bench: tables written to $out" >&2
