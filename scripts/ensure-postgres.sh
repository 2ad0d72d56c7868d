#!/usr/bin/env bash
# Make sure PostgreSQL server binaries (initdb, pg_ctl) exist; the test setup starts its own server.
set -euo pipefail
if command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  exit 0
fi
echo "PostgreSQL server not found: installing Debian's postgresql" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
