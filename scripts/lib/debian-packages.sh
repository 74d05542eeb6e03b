#!/usr/bin/env bash
# Shared body of the scripts that install tools from Debian packages for the tests and the
# local stack (install-ops-tools.sh, install-stack-tools.sh, install-browser.sh). Sourced, not
# run.
#
# The sourcing script sets, before sourcing:
#   TOOL_SCRIPT   its own name, for log lines and the policy-rc.d comment
#   PACKAGES      the Debian packages to install
#   SERVICES      the system services those packages ship, kept from starting and disabled
#   MISSING_HINT  what to install by hand where apt-get is absent
# and defines have_tools (true when every tool is on PATH) and print_versions.
#
# Idempotent: prints versions and stops when the tools are present; runs `apt-get update` only
# when a package is missing, waiting up to 10 minutes for another apt's lock. Installs of these
# scripts run one at a time (a lock file under $TMPDIR), so parallel callers do not race. Non-interactive
# (DEBIAN_FRONTEND=noninteractive). A policy-rc.d forbids service starts during the install,
# unless one is already in place, and the packaged services are disabled afterwards, so their
# ports stay free for the tests' own instances.

log() { printf '%s: %s\n' "${TOOL_SCRIPT}" "$*" >&2; }

if have_tools; then
    print_versions
    exit 0
fi

# One install at a time on this machine (parallel test workers call these scripts together):
# the others wait here, then find the tools installed. Two apt-gets would also contend for the
# policy-rc.d file, which the first would remove while the second still installs.
if command -v flock >/dev/null 2>&1; then
    exec 9>"${TMPDIR:-/tmp}/ragops-debian-packages.lock"
    flock -w 900 9 || { log "waited 15 minutes for another install to finish"; exit 1; }
    if have_tools; then
        print_versions
        exit 0
    fi
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
    log "apt-get not found: install ${MISSING_HINT} by hand"
    exit 1
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("${pkg}")
    fi
done

if ((${#missing[@]} > 0)); then
    POLICY=/usr/sbin/policy-rc.d
    created_policy=0
    if [[ ! -e ${POLICY} ]]; then
        printf '#!/bin/sh\n# Installed by %s: no service starts.\nexit 101\n' "${TOOL_SCRIPT}" \
            | "${SUDO[@]}" tee "${POLICY}" >/dev/null
        "${SUDO[@]}" chmod 0755 "${POLICY}"
        created_policy=1
    fi
    cleanup() {
        if [[ ${created_policy} -eq 1 ]]; then "${SUDO[@]}" rm -f "${POLICY}"; fi
    }
    trap cleanup EXIT

    log "installing ${missing[*]}"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        -o DPkg::Lock::Timeout=600 \
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
    log "${MISSING_HINT} still missing after installing ${PACKAGES[*]}"
    exit 1
fi
print_versions
