#!/usr/bin/env bash
# Make the PostgreSQL server binaries (initdb, pg_ctl) available for the tests
# of Optuna studies shared through a database (tests/model_selection).  The
# tests start and stop a throwaway cluster themselves on 127.0.0.1; nothing is
# left running.  Installs Debian's `postgresql` package when the binaries are
# missing (as root, or through sudo).  SK_SPOTTING_PG_FORCE_INSTALL=1 runs the
# installation even when they are present.
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

if [ "${SK_SPOTTING_PG_FORCE_INSTALL:-0}" != 1 ] && bindir="$(pg_bindir)"; then
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
echo "PostgreSQL server binaries: $bindir"
