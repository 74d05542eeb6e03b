#!/usr/bin/env bash
# Install Debian's Chromium for the headless browser tests (the chat page, the ops console).
# Playwright drives it through `executable_path`; no browser is ever downloaded by a test tool.
#
# Idempotent and non-interactive; runs `apt-get update` only when the package is missing.
# Usage: scripts/install-browser.sh   (as root, or with password-less sudo)
set -euo pipefail

BROWSER=/usr/bin/chromium

if [[ -x ${BROWSER} ]]; then
    "${BROWSER}" --version 2>/dev/null || true
    exit 0
fi
if [[ ${EUID} -eq 0 ]]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    echo "install-browser: must run as root (or with password-less sudo) to install chromium" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
APT=(apt-get -o DPkg::Lock::Timeout=600 -y -q)
"${SUDO[@]}" "${APT[@]}" update
"${SUDO[@]}" "${APT[@]}" install --no-install-recommends chromium fonts-dejavu-core
"${BROWSER}" --version
