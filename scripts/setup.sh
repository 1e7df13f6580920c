#!/usr/bin/env bash
# Installs the Debian packages lua-enphase needs (only those missing) and
# builds the C module for each supported Lua: build/enphase/core.so (Lua 5.4),
# build-5.3/ (Lua 5.3), build-5.1/ (Lua 5.1) and build-luajit/ (LuaJIT 2.1).
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(gcc make cmake pkg-config lua5.4 liblua5.4-dev lua5.3 liblua5.3-dev libcurl4-openssl-dev
  lua-cjson lua-socket lua-busted lua-check luarocks curl jq ca-certificates)
# Lua 5.1 and LuaJIT 2.1: the interpreters, their headers and lua-compat53
# (the 5.3 C API on 5.1); Debian's lua-cjson, lua-socket, lua-sec and busted
# serve 5.1 and LuaJIT as well
PACKAGES+=(lua5.1 liblua5.1-0-dev luajit libluajit-5.1-dev lua-compat53-dev)
# the simulator's HTTPS (luasec) and the spec's test CA (openssl)
PACKAGES+=(lua-sec openssl)
# `enphase simulate`'s charts (PNG and SVG); without it the charts are skipped
PACKAGES+=(gnuplot-nox)
# `enphase mqtt`: libmosquitto, and the broker and clients its specs start
PACKAGES+=(libmosquitto-dev mosquitto mosquitto-clients)
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

build() { # build-dir, cmake options...
  cmake -S . -B "$1" "${@:2}" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$1" -j "$(nproc)" >/dev/null
}
build build -DLUA_VERSION=5.4
build build-5.3 -DLUA_VERSION=5.3
build build-5.1 -DLUA_VERSION=5.1
build build-luajit -DENPHASE_LUAJIT=ON
