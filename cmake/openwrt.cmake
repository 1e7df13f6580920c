# CMake toolchain file: lua-enphase's C modules for an OpenWrt router, built
# with the OpenWrt SDK of the router's target (README, "OpenWrt").
#
#   export STAGING_DIR=$HOME/openwrt-sdk/staging_dir
#   cmake -S . -B build-openwrt -DCMAKE_TOOLCHAIN_FILE=cmake/openwrt.cmake \
#     -DOPENWRT_TOOLCHAIN=$STAGING_DIR/toolchain-mipsel_24kc_gcc-12.3.0_musl \
#     -DOPENWRT_TARGET=$STAGING_DIR/target-mipsel_24kc_musl \
#     -DOPENWRT_CROSS=mipsel-openwrt-linux-musl- \
#     -DCOMPAT53_INCLUDE_DIR=/usr/include/lua5.1
#   cmake --build build-openwrt
#   DESTDIR=$PWD/openwrt-root cmake --install build-openwrt
#
# OPENWRT_TOOLCHAIN: the SDK's toolchain folder (bin/ holds the compiler);
# OPENWRT_TARGET: the SDK's target staging folder, with the headers and
# libraries of the packages built for the router (lua, libcurl: `make
# package/lua/compile package/curl/compile` in the SDK); OPENWRT_CROSS: the
# compiler's prefix. Lua is OpenWrt's 5.1 (lua.h in OPENWRT_TARGET/usr/include),
# with lua-compat53's compat-5.3.h from the build machine (header only:
# Debian's lua-compat53-dev, or a copy of keplerproject/lua-compat-5.3).
# Installs into OpenWrt's own layout: /usr/lib/lua/enphase/{core,store}.so
# and /usr/lib/lua/enphase/*.lua.
#
# spec/openwrt_spec.lua builds with this file on Debian, Debian's own
# compiler, Lua 5.1 and libcurl standing in for the SDK's (OPENWRT_TARGET=/).
set(CMAKE_SYSTEM_NAME Linux)

foreach(_var OPENWRT_TOOLCHAIN OPENWRT_TARGET OPENWRT_CROSS)
  if(NOT DEFINED ${_var} AND DEFINED ENV{${_var}})
    set(${_var} "$ENV{${_var}}")
  endif()
  if(NOT DEFINED ${_var})
    message(FATAL_ERROR "openwrt.cmake: set -D${_var}= (see the top of cmake/openwrt.cmake)")
  endif()
endforeach()
# try_compile projects get the same settings
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES OPENWRT_TOOLCHAIN OPENWRT_TARGET OPENWRT_CROSS)

set(CMAKE_C_COMPILER "${OPENWRT_TOOLCHAIN}/bin/${OPENWRT_CROSS}gcc")
set(CMAKE_FIND_ROOT_PATH "${OPENWRT_TARGET}")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# OpenWrt's Lua: 5.1, its headers in usr/include, modules in /usr/lib/lua
set(LUA_VERSION 5.1 CACHE STRING "OpenWrt's Lua")
set(LUA_INCLUDE_DIR "${OPENWRT_TARGET}/usr/include" CACHE PATH "OpenWrt's lua.h")
set(LUA_CMOD_DIR "lib/lua" CACHE STRING "OpenWrt: /usr/lib/lua")
set(LUA_MOD_DIR "lib/lua" CACHE STRING "OpenWrt: /usr/lib/lua")
set(CMAKE_INSTALL_PREFIX "/usr" CACHE PATH "OpenWrt: /usr")
