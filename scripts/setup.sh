#!/usr/bin/env bash
# Installs the Debian packages lua-enphase needs (only those missing) and
# builds the C module for each supported Lua: build/enphase/core.so (Lua 5.4)
# and build-5.3/enphase/core.so (Lua 5.3).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(gcc make cmake pkg-config lua5.4 liblua5.4-dev lua5.3 liblua5.3-dev libcurl4-openssl-dev
  lua-cjson lua-socket lua-busted lua-check luarocks curl jq ca-certificates)
# the simulator's HTTPS (luasec) and the spec's test CA (openssl)
PACKAGES+=(lua-sec openssl)
# `enphase simulate`'s charts (PNG and SVG); without it the charts are skipped
PACKAGES+=(gnuplot-nox)
PACKAGES+=("$@")

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cmake -S . -B build -DLUA_VERSION=5.4 -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
cmake -S . -B build-5.3 -DLUA_VERSION=5.3 -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-5.3 -j "$(nproc)" >/dev/null
