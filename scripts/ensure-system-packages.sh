#!/usr/bin/env bash
# Debian packages the tests drive for real: gcc (the batch integrator's C lanes), Chromium
# (browser tests, through Playwright with executable_path; no browser download) and
# poppler-utils (pdftotext, pdffonts, pdfinfo, pdftoppm for the PDF reports). Installed when
# missing, like the PostgreSQL server.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v pdftotext >/dev/null 2>&1 || missing+=(poppler-utils)
# A C compiler: the batch integrator's SIMD-lane backend is compiled at first use (numba else).
command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
