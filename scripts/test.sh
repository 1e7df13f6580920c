#!/usr/bin/env bash
# The whole test suite: static checks (luacheck, clang-format, cppcheck,
# clang-tidy), the libFuzzer targets, the C-heavy specs under valgrind, the
# whole suite under ASan/UBSan, then every busted spec. The last line is
# busted's own summary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh valgrind clang-format cppcheck clang clang-tidy libclang-rt-14-dev

echo "== luacheck"
luacheck --quiet .
echo "== clang-format"
clang-format --dry-run --Werror src/*.c src/*.h
echo "== cppcheck"
cppcheck --quiet --enable=warning,portability --error-exitcode=1 --inline-suppr --suppress=toomanyconfigs \
  -I/usr/include/lua5.4 src/
echo "== clang-tidy"
bash scripts/tidy.sh
echo "== fuzz (libFuzzer, 30 s per target, two at a time)"
bash scripts/fuzz.sh 30
echo "== valgrind (C-heavy specs)"
valgrind --quiet --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect \
  lua5.4 /usr/bin/busted --ignore-lua -o TAP spec/core_spec.lua spec/login_spec.lua \
  spec/retry_spec.lua spec/settings_spec.lua spec/cache_spec.lua spec/engine_spec.lua | tail -n 1
echo "== valgrind (a shorter soak, TLS)"
ENPHASE_SOAK_OPS=300 ENPHASE_SOAK_TIMEOUT=2 ENPHASE_SOAK_REPORT=build/valgrind-soak.txt \
valgrind --quiet --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect \
  lua5.4 /usr/bin/busted --ignore-lua -o TAP spec/soak_spec.lua spec/tls_spec.lua | grep -v '^ok '
sed -n 1p build/valgrind-soak.txt
echo "== ASan + UBSan (the whole suite, the full soak)"
ENPHASE_SOAK_REPORT=build-asan/soak-report.txt bash scripts/sanitize.sh
sed -n '1,2p' build-asan/soak-report.txt
echo "== busted"
# busted prints pending and failure details after its summary line: print
# them first, so that the summary line ends the output
out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
busted --lua=lua5.4 -o utfTerminal >"$out" 2>&1 || status=$?
grep -v -E '^[0-9]+ success(es)? / ' "$out" || true
grep -E '^[0-9]+ success(es)? / ' "$out" | tail -n 1 || true
exit "$status"
