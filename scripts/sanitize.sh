#!/usr/bin/env bash
# The busted suite once under AddressSanitizer + UBSan (and LeakSanitizer),
# but for the spec files that check only other processes (below): builds
# enphase.core into build-asan/ (Lua 5.4), build-asan-5.3/ (Lua 5.3) or
# build-asan-5.1/ (Lua 5.1) with
# -DENPHASE_SANITIZE=ON (gcc) and runs busted with the runtimes preloaded
# into the stock lua5.4 (lua5.3, lua5.1), loading that build. Not LuaJIT:
# its own allocator and machine code defeat ASan and valgrind unless LuaJIT
# itself is built for them, and the module LuaJIT loads is the 5.1 one.
#
#   bash scripts/sanitize.sh [--lua=5.1|5.3|5.4] [busted arguments, e.g. spec/core_spec.lua]
#
# The runtimes stay in the busted process only (scripts/preload-once.c):
# children are other programs, or Lua loading the plain build (build/,
# build-5.3/, build-5.1/) as bin/enphase, the specs' helpers/child.lua and
# the lab's children (lab/child.lua) choose it, so ASan checks the link
# order of every process it runs in. busted closes the Lua state on exit,
# so every __gc has run when LeakSanitizer looks: what it reports is a
# leak. Under 5.4 the
# generational collector makes __gc paths of young objects run during the
# specs too (an incremental collector with a short pause was tried: it
# tripled the run time); 5.3 has only the incremental one. Prints busted's
# summary line; on failure, the details. A run longer than
# ENPHASE_SANITIZE_TIMEOUT seconds (default 1800: three runs share
# two cores in scripts/test.sh) is stopped and fails.
set -euo pipefail
cd "$(dirname "$0")/.."

version=5.4
case "${1:-}" in
  --lua=5.1 | --lua=5.3 | --lua=5.4) version=${1#--lua=}; shift ;;
  --lua=*) echo "sanitize: $1: 5.1, 5.3 or 5.4" >&2; exit 2 ;;
esac
build=build-asan
gc=(-e 'collectgarbage("generational")')
if [ "$version" != 5.4 ]; then # 5.3 and 5.1: the incremental collector only
  build=build-asan-$version
  gc=()
fi

if [ ! -f "$build/CMakeCache.txt" ]; then
  CC=gcc cmake -S . -B "$build" -DENPHASE_SANITIZE=ON -DLUA_VERSION="$version" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake -S . -B "$build" -DENPHASE_SANITIZE=ON -DLUA_VERSION="$version" >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null
compiler=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt")
case "$("$compiler" --version 2>/dev/null | head -n 1)" in
  *clang*) runtimes="$("$compiler" -print-file-name=libclang_rt.asan-x86_64.so)" ;;
  *) runtimes="$("$compiler" -print-file-name=libasan.so) $("$compiler" -print-file-name=libubsan.so)" ;;
esac
cc -shared -fPIC -O2 -Wall -Wextra -Werror -o "$build/preload-once.so" scripts/preload-once.c

# Spec files left to the plain busted runs (scripts/test.sh runs them under
# every Lua): every check they make is on other processes, which load the
# plain build or none of ours (the CLI as a shell, cron, Domoticz, openLuup,
# Home Assistant or the MQTT bridge runs it; luarocks and the Debian package
# build their own), so under the runtimes they would check no byte of our C
# more. In this process they load nothing of ours but enphase.store through
# require("enphase") (LD_DEBUG=files; rockspec, deb, manpage, portable:
# nothing), except mqtt_spec's few clients, which log in, read and write a
# setting as settings_spec does here. A file named on the command line runs.
outside=(rockspec deb manpage portable cli cli_input openluup domoticz homeassistant schedulers
  mqtt)
excluded=()
for name in "${outside[@]}"; do excluded+=("--exclude-pattern=^${name}_spec%.lua\$"); done

out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
# LD_PRELOAD set by env for lua itself (preload-once.so drops it in the
# first process it loads into, so it cannot be set for timeout)
timeout "${ENPHASE_SANITIZE_TIMEOUT:-1800}" env \
  ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  LD_PRELOAD="$runtimes $PWD/$build/preload-once.so" \
  "lua$version" /usr/bin/busted --ignore-lua --lua="lua$version" --cpath="$build/?.so" \
  ${gc[@]+"${gc[@]}"} "${excluded[@]}" -o utfTerminal "$@" >"$out" 2>&1 || status=$?
if [ "$status" != 0 ] || grep -q -e "ERROR: AddressSanitizer" -e "ERROR: LeakSanitizer" \
    -e "runtime error:" "$out"; then
  cat "$out"
  [ "$status" != 124 ] || echo "sanitize: stopped after ${ENPHASE_SANITIZE_TIMEOUT:-1800} s (a hang?)"
  echo "sanitize (Lua $version): FAILED (exit $status)"
  exit 1
fi
grep -E '^[0-9]+ success(es)? / ' "$out" | tail -n 1 || true
