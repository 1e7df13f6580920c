#!/usr/bin/env bash
# The whole test suite: static checks (luacheck, clang-format, the API
# reference, cppcheck, clang-tidy), the Debian package (built once here: the
# suite's spec/deb_spec.lua installs it), the libFuzzer targets, then for
# the four Luas (5.4, 5.3, 5.1 and LuaJIT 2.1): the C-heavy specs under
# valgrind (5.4 and 5.1), the suite under ASan/UBSan (not LuaJIT: see
# scripts/sanitize.sh), and every busted spec. The busted runs of the four
# Luas, and the ASan runs, go side by side (they wait on the network and
# timers more than they compute). Ends with the time of each phase and the
# busted summary line of each Lua (the failing run's last when one fails).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh valgrind clang-format cppcheck clang clang-tidy libclang-rt-14-dev lua-ldoc \
  dpkg-dev debhelper dh-lua lintian lua-any

# The Luas: busted runs every spec under each; ASan/UBSan where it makes
# sense (LuaJIT: no, scripts/sanitize.sh says why); valgrind for the two C
# API mappings that differ most, 5.4's own and lua-compat53's 5.1 (5.3's is
# a few macros of src/compat.h, under ASan/UBSan like the rest).
LUAS=(5.4 5.3 5.1 luajit)
SANITIZED=(5.4 5.3 5.1)
VALGRIND=(5.4 5.1)
lua_of() { if [ "$1" = luajit ]; then echo luajit; else echo "lua$1"; fi; }

# the time of each phase, printed at the end
times=()
phase_name="" phase_start=$SECONDS
phase() {
  [ -z "$phase_name" ] || times+=("$(printf '%5d s  %s' $((SECONDS - phase_start)) "$phase_name")")
  phase_name=$1 phase_start=$SECONDS
  [ -z "$1" ] || echo "== $1"
}

phase "luacheck"
luacheck --quiet .
phase "clang-format"
clang-format --dry-run --Werror src/*.c src/*.h
phase "API reference (LDoc, no warning)"
bash scripts/doc.sh
phase "cppcheck"
cppcheck --quiet --enable=warning,portability --error-exitcode=1 --inline-suppr --suppress=toomanyconfigs \
  -I/usr/include/lua5.4 src/
phase "clang-tidy"
bash scripts/tidy.sh
phase "Debian package (dpkg-buildpackage, lintian; spec/deb_spec.lua installs it)"
bash scripts/deb.sh
phase "fuzz (libFuzzer, 30 s per target, two at a time)"
bash scripts/fuzz.sh 30
# Each Lua has its own build (build/ for 5.4, build-5.3/, build-5.1/,
# build-luajit/; .busted picks it from the Lua busted runs under).
for v in "${VALGRIND[@]}"; do
  phase "valgrind, Lua $v (C-heavy specs)"
  valgrind --quiet --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect \
    "lua$v" /usr/bin/busted --ignore-lua -o TAP spec/core_spec.lua spec/login_spec.lua \
    spec/retry_spec.lua spec/settings_spec.lua spec/cache_spec.lua spec/engine_spec.lua \
    spec/operations_spec.lua spec/mfa_spec.lua spec/mqtt_client_spec.lua spec/optimum_spec.lua \
    spec/precompiled_spec.lua | grep -v '^ok '
  phase "valgrind, Lua $v (a shorter soak, TLS)"
  ENPHASE_SOAK_OPS=300 ENPHASE_SOAK_TIMEOUT=2 ENPHASE_SOAK_REPORT="build/valgrind-soak-$v.txt" \
  valgrind --quiet --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect \
    "lua$v" /usr/bin/busted --ignore-lua -o TAP spec/soak_spec.lua spec/tls_spec.lua | grep -v '^ok '
  sed -n 1p "build/valgrind-soak-$v.txt"
done

# The rest waits on the network and timers more than it computes: the Luas
# run side by side, each writing to its own file.
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

phase "ASan + UBSan, Lua ${SANITIZED[*]} side by side (the suite but the specs of other processes, the full soak)"
asan_status=0
# three side by side take longer than one: the hang guard of each run
# (scripts/sanitize.sh, 900 s alone) is 1800 s here
for v in "${SANITIZED[@]}"; do
  ENPHASE_SANITIZE_TIMEOUT=${ENPHASE_SANITIZE_TIMEOUT:-1800} ENPHASE_SOAK_REPORT="$out/asan-soak-$v.txt" \
    bash scripts/sanitize.sh --lua="$v" >"$out/asan-$v" 2>&1 &
  echo $! >"$out/asan-$v.pid"
done
for v in "${SANITIZED[@]}"; do
  wait "$(cat "$out/asan-$v.pid")" || asan_status=1
  echo "-- Lua $v"
  cat "$out/asan-$v"
  sed -n '1,2p' "$out/asan-soak-$v.txt" 2>/dev/null || true
done
[ "$asan_status" = 0 ] || { echo "ASan + UBSan: FAILED"; exit 1; }

phase "busted, Lua ${LUAS[*]} side by side"
# busted prints pending and failure details after its summary line: print
# them first, so that a summary line ends the output, the failing run's
# when there is one
# LuaJIT with its JIT compiler on: enphase.util.jit_guard keeps Debian 12's
# LuaJIT (LuaJIT issue #829) from running a miscompiled pairs() loop
for v in "${LUAS[@]}"; do
  {
    start=$SECONDS
    busted --lua="$(lua_of "$v")" -o utfTerminal >"$out/busted-$v" 2>&1
    echo $? >"$out/busted-$v.status"
    echo $((SECONDS - start)) >"$out/busted-$v.seconds"
  } &
done
wait
phase ""
passed=() failed=()
for v in "${LUAS[@]}"; do
  if [ "$(cat "$out/busted-$v.status")" = 0 ]; then passed+=("$v"); else failed+=("$v"); fi
done
echo "== times"
printf '%s\n' "${times[@]}"
for v in "${LUAS[@]}"; do
  printf '%5d s  busted, %s alone in the side-by-side run\n' "$(cat "$out/busted-$v.seconds")" "$(lua_of "$v")"
done
printf '%5d s  the whole run\n' "$SECONDS"
status=0
for v in ${passed[@]+"${passed[@]}"} ${failed[@]+"${failed[@]}"}; do
  echo "-- busted, $(lua_of "$v")"
  grep -v -E '^[0-9]+ success(es)? / ' "$out/busted-$v" || true
  grep -E '^[0-9]+ success(es)? / ' "$out/busted-$v" | tail -n 1 || echo "(no summary line: busted exited $(cat "$out/busted-$v.status"))"
done
[ "${#failed[@]}" = 0 ] || status=1
exit "$status"
