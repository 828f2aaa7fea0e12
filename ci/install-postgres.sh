#!/usr/bin/env bash
# Installs the PostgreSQL server binaries when none are present, so that the
# test session can start its throwaway cluster.  Debian's package by name.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "PostgreSQL server binaries are missing; install the 'postgresql' package" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq postgresql >/dev/null
# The package starts a system cluster on 5432; the tests use their own.
if command -v pg_ctlcluster >/dev/null 2>&1; then
    for conf in /etc/postgresql/*/main; do
        [ -d "$conf" ] || continue
        version=$(basename "$(dirname "$conf")")
        pg_ctlcluster "$version" main stop >/dev/null 2>&1 || true
    done
fi
