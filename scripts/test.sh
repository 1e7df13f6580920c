#!/usr/bin/env bash
# The whole test suite: static checks, the C module under valgrind, then
# every busted spec. The last line is busted's own summary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh valgrind clang-format cppcheck

echo "== luacheck"
luacheck --quiet .
echo "== clang-format"
clang-format --dry-run --Werror src/*.c src/*.h
echo "== cppcheck"
cppcheck --quiet --enable=warning,portability --error-exitcode=1 --inline-suppr --suppress=toomanyconfigs \
  -I/usr/include/lua5.4 src/
echo "== valgrind (C-heavy specs)"
valgrind --quiet --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect \
  lua5.4 /usr/bin/busted --ignore-lua -o TAP spec/core_spec.lua spec/login_spec.lua \
  spec/retry_spec.lua spec/settings_spec.lua spec/cache_spec.lua | tail -n 1
echo "== busted"
busted --lua=lua5.4 -o utfTerminal
