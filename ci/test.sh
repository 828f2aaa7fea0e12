#!/usr/bin/env bash
# The project's test command: makes sure a PostgreSQL server can be started,
# then runs the whole suite, once per kernel twin (ids c and py).
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/install-postgres.sh
exec python3 -m pytest "$@"
