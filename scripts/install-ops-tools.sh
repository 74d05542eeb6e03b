#!/usr/bin/env bash
# Install the Prometheus and Alertmanager command-line tools (promtool, amtool) that the ops
# tests and the alerting docs use, from the Debian packages `prometheus` and
# `prometheus-alertmanager`.
#
# Idempotent and non-interactive (scripts/lib/debian-packages.sh). The packages ship system
# services; they are kept from starting and disabled, so ports 9090 and 9093 stay free for the
# tests' own instances.
#
# Usage: scripts/install-ops-tools.sh      (as root, or as a user with password-less sudo)
set -euo pipefail

TOOL_SCRIPT=install-ops-tools.sh
PACKAGES=(prometheus prometheus-alertmanager)
SERVICES=(prometheus prometheus-alertmanager)
MISSING_HINT="promtool and amtool (Prometheus, Alertmanager)"

have_tools() { command -v promtool >/dev/null 2>&1 && command -v amtool >/dev/null 2>&1; }

print_versions() {
    promtool --version 2>&1 | head -n 1
    amtool --version 2>&1 | head -n 1
}

# shellcheck source=lib/debian-packages.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/debian-packages.sh"
