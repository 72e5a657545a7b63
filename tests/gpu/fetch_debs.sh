#!/usr/bin/env bash
# fetch_debs.sh — downloads (here, on the development machine) the Debian packages that the
# engine core needs and a GPU machine lacks, into .deps/debs (git-ignored), so that
# tests/gpu/run.sh can unpack them into a private prefix there (that machine has no package
# registry). Run it before a GPU session; it only downloads, it installs nothing. It also puts
# cuDNN's frontend (header-only C++, PyPI's nvidia-cudnn-frontend wheel, pinned) into
# .deps/cudnn_frontend/include when pip can fetch it, for attention on cuDNN's fused SDPA
# (kernels/cu_sdpa.cu; CMake finds it there, here and on the GPU machine; carry it along:
# carry [".deps/debs", ".deps/cudnn_frontend"]). Without it the build leaves SDPA out.
#   bash tests/gpu/fetch_debs.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dest="$root/.deps/debs"
mkdir -p "$dest"
# core libraries (cJSON, PCRE2, utf8proc) with their headers and .pc files, and pkgconf
# (CMake's FindPkgConfig needs a pkg-config binary)
pkgs=(libcjson-dev libcjson1 libpcre2-dev libpcre2-8-0 libutf8proc-dev libutf8proc2 pkgconf-bin libpkgconf3)
# downloaded beside, then swapped in: a failed download leaves the last set in place
new=$(mktemp -d "$root/.deps/debs.new.XXXXXX")
(cd "$new" && apt-get download "${pkgs[@]}")
rm -f "$dest"/*.deb
mv "$new"/*.deb "$dest"/
rmdir "$new"
arch=$(dpkg --print-architecture)
echo "$arch" > "$dest/ARCH"
ls -1 "$dest"/*.deb > /dev/null
echo "fetch_debs: $(ls -1 "$dest"/*.deb | wc -l) packages ($arch) in $dest:"
ls -1 "$dest"

# cuDNN's frontend headers (1.32.0: it builds against CUDA 13, which 1.8 did not)
fe_ver=1.32.0
fe="$root/.deps/cudnn_frontend"
if [ -f "$fe/VERSION" ] && [ "$(cat "$fe/VERSION")" = "$fe_ver" ]; then
  echo "fetch_debs: cuDNN frontend $fe_ver already in $fe"
elif tmp=$(mktemp -d) && python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" \
       "nvidia-cudnn-frontend==$fe_ver" > "$tmp/pip.log" 2>&1; then
  rm -rf "$fe" && mkdir -p "$fe"
  python3 -c "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); [z.extract(n, sys.argv[2]) for n in z.namelist() if n.startswith('include/')]" \
    "$(ls "$tmp"/*.whl | head -n 1)" "$fe"
  echo "$fe_ver" > "$fe/VERSION"
  rm -rf "$tmp"
  echo "fetch_debs: cuDNN frontend $fe_ver headers in $fe/include ($(find "$fe/include" -type f | wc -l) files)"
else
  echo "fetch_debs: could not fetch nvidia-cudnn-frontend==$fe_ver (see $tmp/pip.log); the build leaves SDPA out"
fi
