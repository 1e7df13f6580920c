#!/usr/bin/env bash
# The Debian package: builds lua-enphase_<version>_<arch>.deb (the module for
# Lua 5.1 (LuaJIT), 5.3 and 5.4, the enphase CLI and its man page) with dpkg-buildpackage
# from a copy of the checkout in build-deb/, then runs lintian on it; any
# lintian error fails. The checkout itself is left as it is.
#
#   bash scripts/deb.sh            -> build-deb/lua-enphase_*.deb
#   bash scripts/deb.sh --digest   the digest of the sources it would package
set -euo pipefail
cd "$(dirname "$0")/.."

# A digest of what goes into the package: spec/deb_spec.lua tests a .deb only
# when it was built from the sources of the checkout it runs in.
sources_digest() {
  find CMakeLists.txt bin src lua doc debian README.md CHANGELOG.md config.ld -type f -print0 |
    LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
}
if [ "${1:-}" = --digest ]; then
  sources_digest
  exit 0
fi

bash scripts/setup.sh dpkg-dev debhelper dh-lua lintian lua-any >/dev/null

version=$(dpkg-parsechangelog -l debian/changelog -S Version)
src=build-deb/lua-enphase-$version
rm -rf build-deb
mkdir -p "$src"
# the checkout without its builds and git data (what a source tarball holds)
digest=$(sources_digest)
tar -c --exclude='./build*' --exclude=./.git . | tar -x -C "$src"

start=$(date +%s)
log=build-deb/build.log
if ! (cd "$src" && dpkg-buildpackage -us -uc -b) >"$log" 2>&1; then
  cat "$log"
  echo "deb: dpkg-buildpackage FAILED"
  exit 1
fi
seconds=$(($(date +%s) - start))
deb=$(ls build-deb/lua-enphase_"$version"_*.deb)
echo "$digest" >build-deb/sources.sha256
echo "deb: $deb built in $seconds s"

# lintian exits non-zero on errors; warnings and infos are printed, not fatal
if ! lintian --fail-on error --tag-display-limit 0 "$deb" >build-deb/lintian.txt 2>&1; then
  cat build-deb/lintian.txt
  echo "deb: lintian reports errors"
  exit 1
fi
echo "deb: lintian: $(grep -c '^E:' build-deb/lintian.txt || true) errors," \
  "$(grep -c '^W:' build-deb/lintian.txt || true) warnings"
sed -n '/^[EW]:/p' build-deb/lintian.txt
