#!/usr/bin/env bash
# Install the process manager and the load balancer of the local multi-instance stack
# (deploy/local/, `ragops stack`): supervisord and nginx, from the Debian packages `supervisor`
# and `nginx`.
#
# Idempotent and non-interactive (scripts/lib/debian-packages.sh). The packages ship system
# services; they are kept from starting and disabled, so port 80 stays free and the stack runs
# its own supervisord and nginx with configurations of its own run directory.
#
# Usage: scripts/install-stack-tools.sh      (as root, or as a user with password-less sudo)
set -euo pipefail

TOOL_SCRIPT=install-stack-tools.sh
PACKAGES=(supervisor nginx)
SERVICES=(supervisor nginx)
MISSING_HINT="supervisord and nginx"
export PATH="${PATH}:/usr/sbin:/sbin"

have_tools() { command -v supervisord >/dev/null 2>&1 && command -v nginx >/dev/null 2>&1; }

print_versions() {
    printf 'supervisord %s\n' "$(supervisord --version 2>&1 | head -n 1)"
    nginx -v 2>&1 | head -n 1
}

# shellcheck source=lib/debian-packages.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/debian-packages.sh"
