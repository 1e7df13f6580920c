#!/usr/bin/env bash
# The whole test suite: static checks (luacheck, clang-format, the API
# reference, cppcheck, clang-tidy), the Debian package (built once here: the
# suite's spec/deb_spec.lua installs it), the libFuzzer targets, then for
# each of Lua 5.4 and 5.3: the C-heavy specs under valgrind, the whole suite
# under ASan/UBSan, and every busted spec. The last line is busted's own
# summary (of the failing run when one fails).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh valgrind clang-format cppcheck clang clang-tidy libclang-rt-14-dev lua-ldoc \
  dpkg-dev debhelper dh-lua lintian lua-any

echo "== luacheck"
luacheck --quiet .
echo "== clang-format"
clang-format --dry-run --Werror src/*.c src/*.h
echo "== API reference (LDoc, no warning)"
bash scripts/doc.sh
echo "== cppcheck"
cppcheck --quiet --enable=warning,portability --error-exitcode=1 --inline-suppr --suppress=toomanyconfigs \
  -I/usr/include/lua5.4 src/
echo "== clang-tidy"
bash scripts/tidy.sh
echo "== Debian package (dpkg-buildpackage, lintian; spec/deb_spec.lua installs it)"
bash scripts/deb.sh
echo "== fuzz (libFuzzer, 30 s per target, two at a time)"
bash scripts/fuzz.sh 30
# Each Lua has its own build (build/ for 5.4, build-5.3/ for 5.3; .busted
# picks it from the Lua busted runs under).
for v in 5.4 5.3; do
  echo "== valgrind, Lua $v (C-heavy specs)"
  valgrind --quiet --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect \
    "lua$v" /usr/bin/busted --ignore-lua -o TAP spec/core_spec.lua spec/login_spec.lua \
    spec/retry_spec.lua spec/settings_spec.lua spec/cache_spec.lua spec/engine_spec.lua \
    spec/operations_spec.lua spec/mfa_spec.lua spec/mqtt_client_spec.lua spec/optimum_spec.lua | grep -v '^ok '
  echo "== valgrind, Lua $v (a shorter soak, TLS)"
  ENPHASE_SOAK_OPS=300 ENPHASE_SOAK_TIMEOUT=2 ENPHASE_SOAK_REPORT="build/valgrind-soak-$v.txt" \
  valgrind --quiet --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect \
    "lua$v" /usr/bin/busted --ignore-lua -o TAP spec/soak_spec.lua spec/tls_spec.lua | grep -v '^ok '
  sed -n 1p "build/valgrind-soak-$v.txt"
done

# The rest waits on the network and timers more than it computes: the two
# Luas run side by side, each writing to its own file.
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "== ASan + UBSan, Lua 5.4 and 5.3 side by side (the whole suite, the full soak)"
asan_status=0
for v in 5.4 5.3; do
  ENPHASE_SOAK_REPORT="$out/asan-soak-$v.txt" bash scripts/sanitize.sh --lua=$v >"$out/asan-$v" 2>&1 &
  echo $! >"$out/asan-$v.pid"
done
for v in 5.4 5.3; do
  wait "$(cat "$out/asan-$v.pid")" || asan_status=1
  echo "-- Lua $v"
  cat "$out/asan-$v"
  sed -n '1,2p' "$out/asan-soak-$v.txt" 2>/dev/null || true
done
[ "$asan_status" = 0 ] || { echo "ASan + UBSan: FAILED"; exit 1; }

echo "== busted, Lua 5.4 and 5.3 side by side"
# busted prints pending and failure details after its summary line: print
# them first, so that a summary line ends the output, the failing run's
# when there is one
for v in 5.4 5.3; do
  { busted --lua="lua$v" -o utfTerminal >"$out/busted-$v" 2>&1; echo $? >"$out/busted-$v.status"; } &
done
wait
passed=() failed=()
for v in 5.4 5.3; do
  if [ "$(cat "$out/busted-$v.status")" = 0 ]; then passed+=("$v"); else failed+=("$v"); fi
done
status=0
for v in ${passed[@]+"${passed[@]}"} ${failed[@]+"${failed[@]}"}; do
  echo "-- busted, Lua $v"
  grep -v -E '^[0-9]+ success(es)? / ' "$out/busted-$v" || true
  grep -E '^[0-9]+ success(es)? / ' "$out/busted-$v" | tail -n 1 || echo "(no summary line: busted exited $(cat "$out/busted-$v.status"))"
done
[ "${#failed[@]}" = 0 ] || status=1
exit "$status"
