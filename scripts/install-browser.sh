#!/usr/bin/env bash
# Install Debian's Chromium for the headless browser tests (the chat page, the ops console).
# Playwright drives it through `executable_path`; no browser is ever downloaded by a test tool.
#
# Idempotent and non-interactive (scripts/lib/debian-packages.sh).
# Usage: scripts/install-browser.sh   (as root, or with password-less sudo)
set -euo pipefail

TOOL_SCRIPT=install-browser.sh
PACKAGES=(chromium fonts-dejavu-core)
SERVICES=()
MISSING_HINT="chromium"
BROWSER=/usr/bin/chromium

have_tools() { [[ -x ${BROWSER} ]]; }

print_versions() { "${BROWSER}" --version 2>/dev/null || true; }

# shellcheck source=lib/debian-packages.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/debian-packages.sh"
