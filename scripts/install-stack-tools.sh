#!/usr/bin/env bash
# Install the process manager and the load balancer of the local multi-instance stack
# (deploy/local/, `ragops stack`): supervisord and nginx, from the Debian packages `supervisor`
# and `nginx`.
#
# Idempotent: does nothing but print versions when both tools are already on PATH, and runs
# `apt-get update` only when a package is missing. Non-interactive. The packages ship system
# services; this script keeps them from starting (policy-rc.d during the install) and disables
# them afterwards, so port 80 stays free and the stack runs its own supervisord and nginx with
# configurations of its own run directory.
#
# Usage: scripts/install-stack-tools.sh      (as root, or as a user with password-less sudo)
set -euo pipefail

PACKAGES=(supervisor nginx)
SERVICES=(supervisor nginx)
POLICY=/usr/sbin/policy-rc.d
export PATH="${PATH}:/usr/sbin:/sbin"

log() { printf 'install-stack-tools: %s\n' "$*" >&2; }

have_tools() { command -v supervisord >/dev/null 2>&1 && command -v nginx >/dev/null 2>&1; }

print_versions() {
    printf 'supervisord %s\n' "$(supervisord --version 2>&1 | head -n 1)"
    nginx -v 2>&1 | head -n 1
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
    log "apt-get not found: install supervisord and nginx by hand"
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
        printf '#!/bin/sh\n# Installed by install-stack-tools.sh: no service starts.\nexit 101\n' \
            | "${SUDO[@]}" tee "${POLICY}" >/dev/null
        "${SUDO[@]}" chmod 0755 "${POLICY}"
        created_policy=1
    fi
    cleanup() {
        if [[ ${created_policy} -eq 1 ]]; then "${SUDO[@]}" rm -f "${POLICY}"; fi
    }
    trap cleanup EXIT

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
    log "supervisord or nginx still missing after installing ${PACKAGES[*]}"
    exit 1
fi
print_versions
