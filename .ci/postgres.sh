#!/usr/bin/env bash
# Make the PostgreSQL server binaries (initdb, pg_ctl) available for the tests
# of Optuna studies shared through a database (tests/model_selection).  The
# tests start and stop a throwaway cluster themselves
# (tests/model_selection/_postgres.py): no TCP address, a Unix socket in a
# private 0700 folder, a random scram-sha-256 password; a watchdog stops it if
# the test process dies, and the next start stops any cluster left by a dead
# one.  PostgreSQL refuses to run as root: under root (CI) the cluster runs as
# the `postgres` user that Debian's package creates.  Installs that package
# when the binaries are missing (as root, or through sudo).
# SK_SPOTTING_PG_FORCE_INSTALL=1 runs the installation even when they are
# present.
set -euo pipefail

pg_bindir() {
    local found
    if found="$(command -v pg_ctl 2>/dev/null)" && command -v initdb >/dev/null 2>&1; then
        dirname "$(readlink -f "$found")"
        return 0
    fi
    found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    [ -n "$found" ] && [ -x "$found/pg_ctl" ] && [ -x "$found/initdb" ] && echo "$found"
}

check_user() {
    if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
        echo "running as root, but there is no 'postgres' user for the test cluster" >&2
        exit 1
    fi
}

if [ "${SK_SPOTTING_PG_FORCE_INSTALL:-0}" != 1 ] && bindir="$(pg_bindir)"; then
    check_user
    echo "PostgreSQL server binaries: $bindir"
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql

if ! bindir="$(pg_bindir)"; then
    echo "PostgreSQL server binaries still missing after installing postgresql" >&2
    exit 1
fi
check_user
echo "PostgreSQL server binaries: $bindir"
