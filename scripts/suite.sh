#!/usr/bin/env bash
# The pytest suite and the offline security audit of `make test`, run side by side.
#
# pytest waits on servers and subprocesses more than it computes, and the audit's history scan
# computes without waiting, so running them together saves the audit's minutes. pytest prints
# as it goes; the audit writes to var/audit/make-test.log, printed once pytest has finished.
# Exits non-zero when either fails (pytest's code first).
#
# Usage: scripts/suite.sh MAKE BIN_DIR [pytest arguments...]
set -uo pipefail
cd "$(dirname "$0")/.."

make=${1:?usage: scripts/suite.sh MAKE BIN_DIR [pytest arguments...]}
bin=${2:?usage: scripts/suite.sh MAKE BIN_DIR [pytest arguments...]}
shift 2
mkdir -p var/audit
log=var/audit/make-test.log

audit() {
    # The Makefile's `audit` target: the offline checks must pass; `deps` may be "not audited".
    "$make" --no-print-directory audit
}

audit >"$log" 2>&1 &
audit_pid=$!
trap 'kill "$audit_pid" 2>/dev/null' INT TERM

"$bin/pytest" "$@"
pytest_rc=$?

wait "$audit_pid"
audit_rc=$?
echo "--- security audit (offline checks; output of $log) ---"
cat "$log"
if [ "$audit_rc" -ne 0 ]; then
    echo "security audit failed (exit $audit_rc)" >&2
fi
if [ "$pytest_rc" -ne 0 ]; then
    exit "$pytest_rc"
fi
exit "$audit_rc"
