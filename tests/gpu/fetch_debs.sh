#!/usr/bin/env bash
# fetch_debs.sh — downloads (here, on the development machine) the Debian packages that the
# engine core needs and a GPU machine lacks, into .deps/debs (git-ignored), so that
# tests/gpu/run.sh can unpack them into a private prefix there (that machine has no package
# registry). Run it before a GPU session; it only downloads, it installs nothing.
#   bash tests/gpu/fetch_debs.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dest="$root/.deps/debs"
mkdir -p "$dest"
# core libraries (cJSON, PCRE2, utf8proc) with their headers and .pc files, and pkgconf
# (CMake's FindPkgConfig needs a pkg-config binary)
pkgs=(libcjson-dev libcjson1 libpcre2-dev libpcre2-8-0 libutf8proc-dev libutf8proc2 pkgconf-bin libpkgconf3)
cd "$dest"
rm -f ./*.deb
apt-get download "${pkgs[@]}"
arch=$(dpkg --print-architecture)
echo "$arch" > "$dest/ARCH"
ls -1 "$dest"/*.deb > /dev/null
echo "fetch_debs: $(ls -1 "$dest"/*.deb | wc -l) packages ($arch) in $dest:"
ls -1 "$dest"
