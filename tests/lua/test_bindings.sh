#!/bin/bash
# test_bindings.sh — the tsasr Lua bindings checked against fixtures (tests/lua/bindings.lua).
# $1: the tsasr binary, $2: the build dir.
set -u
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "$2/test_lua_bindings.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
FIX="$here/../fixtures" TMP_DIR="$tmp" "$1" lua "$here/bindings.lua"
