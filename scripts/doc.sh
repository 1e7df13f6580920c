#!/usr/bin/env bash
# The API reference: LDoc (Debian's lua-ldoc) over the doc comments of the
# public Lua modules (config.ld), into build/doc/ (open build/doc/index.html).
# Fails on any warning LDoc prints (an unknown tag, a reference that does
# not resolve, a module without documented items...).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v ldoc >/dev/null; then
  bash scripts/setup.sh lua-ldoc
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT
rm -rf build/doc
status=0
# /usr/bin/ldoc's shebang asks for Lua 5.1/5.2; it runs under 5.4
lua5.4 /usr/bin/ldoc . >"$out" 2>&1 || status=$?
warnings=$(grep -v -e '^reading configuration from config.ld$' -e '^output written to ' "$out" || true)
if [ "$status" != 0 ] || [ -n "$warnings" ] || [ ! -f build/doc/index.html ]; then
  cat "$out"
  echo "doc: FAILED (LDoc exit $status; every line above other than its two notes is a warning)"
  exit 1
fi
echo "doc: build/doc/index.html ($(find build/doc/modules -name '*.html' | wc -l) modules, no warning)"
