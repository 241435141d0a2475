#!/usr/bin/env bash
# test/demo.sh -- show paycons at work on a throwaway cluster (`make demo`)
#
# Builds and installs paycons, starts a throwaway PostgreSQL 15 cluster under
# tmp_check/, creates database paycons_demo with the extension, and runs
# test/demo.sql with every statement echoed before its result.  The cluster
# is stopped at the end, also on error or Ctrl-C.
#
# Usage: bash test/demo.sh [FILE.sql]   (default test/demo.sql)

set -euo pipefail

# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

DEMO_SQL=$(realpath "${1:-test/demo.sql}")

# Always stop the cluster; signals become exits so that the EXIT trap runs.
trap paycons_stop_cluster EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

paycons_ensure_packages || exit 1
paycons_build_install || exit 1
paycons_start_cluster || exit 1

paycons_say "creating database paycons_demo with CREATE EXTENSION paycons"
createdb paycons_demo
psql -X -q -v ON_ERROR_STOP=1 -d paycons_demo -c 'CREATE EXTENSION paycons'

paycons_say "running ${DEMO_SQL#"$REPO"/}"
echo
# -e echoes each statement as it is sent, so the output reads as a session:
# the statement, then its result.  ON_ERROR_STOP makes any unexpected error
# end the demo with a non-zero status.
psql -X -e -v ON_ERROR_STOP=1 --pset=pager=off -d paycons_demo -f "$DEMO_SQL"
echo
paycons_say "demo finished"
