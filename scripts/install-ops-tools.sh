#!/usr/bin/env bash
# Install the Prometheus and Alertmanager command-line tools (promtool, amtool) that the ops
# tests and the alerting docs use, from the Debian packages `prometheus` and
# `prometheus-alertmanager`.
#
# Idempotent: does nothing but print versions when both tools are already on PATH, and runs
# `apt-get update` only when a package is missing. Non-interactive. The packages ship system
# services; this script keeps them from starting (policy-rc.d during the install) and disables
# them afterwards, so ports 9090 and 9093 stay free for the tests' own instances.
#
# Usage: scripts/install-ops-tools.sh      (as root, or as a user with password-less sudo)
set -euo pipefail

PACKAGES=(prometheus prometheus-alertmanager)
SERVICES=(prometheus prometheus-alertmanager)
POLICY=/usr/sbin/policy-rc.d

log() { printf 'install-ops-tools: %s\n' "$*" >&2; }

have_tools() { command -v promtool >/dev/null 2>&1 && command -v amtool >/dev/null 2>&1; }

print_versions() {
    promtool --version 2>&1 | head -n 1
    amtool --version 2>&1 | head -n 1
}

if have_tools; then
    print_versions
    exit 0
fi

if [[ ${EUID} -eq 0 ]]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    log "must run as root (or with password-less sudo) to install ${PACKAGES[*]}"
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    log "apt-get not found: install promtool and amtool (Prometheus, Alertmanager) by hand"
    exit 1
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("${pkg}")
    fi
done

if ((${#missing[@]} > 0)); then
    # Forbid service starts during the install, unless a policy is already in place.
    created_policy=0
    if [[ ! -e ${POLICY} ]]; then
        printf '#!/bin/sh\n# Installed by install-ops-tools.sh: no service starts.\nexit 101\n' \
            | "${SUDO[@]}" tee "${POLICY}" >/dev/null
        "${SUDO[@]}" chmod 0755 "${POLICY}"
        created_policy=1
    fi
    cleanup() {
        if [[ ${created_policy} -eq 1 ]]; then "${SUDO[@]}" rm -f "${POLICY}"; fi
    }
    trap cleanup EXIT

    export DEBIAN_FRONTEND=noninteractive
    log "installing ${missing[*]}"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends -o Dpkg::Options::=--force-confdef \
        -o Dpkg::Options::=--force-confold "${missing[@]}" >/dev/null

    # Keep the packaged services off: disabled for systemd and for sysvinit, stopped if running.
    for svc in "${SERVICES[@]}"; do
        if [[ -d /run/systemd/system ]]; then
            "${SUDO[@]}" systemctl disable --now "${svc}" >/dev/null 2>&1 || true
        elif command -v systemctl >/dev/null 2>&1; then
            "${SUDO[@]}" systemctl disable "${svc}" >/dev/null 2>&1 || true
        fi
        if [[ -x /etc/init.d/${svc} ]]; then
            "${SUDO[@]}" update-rc.d "${svc}" disable >/dev/null 2>&1 || true
            "${SUDO[@]}" /etc/init.d/"${svc}" stop >/dev/null 2>&1 || true
        fi
    done
fi

if ! have_tools; then
    log "promtool or amtool still missing after installing ${PACKAGES[*]}"
    exit 1
fi
print_versions
