#!/usr/bin/env bash
# `make setup`: everything this checkout needs on a Debian host, idempotent and quiet when
# nothing changes. Steps: Debian packages the environments need, the Python venv, the parent
# cgroups of the job cgroups, and the host environment manifests (pkgs/).
set -euo pipefail

cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT

fail() {
    echo "setup: $1 failed:" >&2
    tail -n 40 "$log" >&2
    exit 1
}

if [ "$(id -u)" != 0 ]; then
    echo "setup: must run as root (apt, cgroups and nsjail need it)" >&2
    exit 1
fi

# 1. Debian packages: the host builder says which ones the environments use.
# slirp4netns and nftables give jobs with `network: true` their own namespace with outbound access;
# runsc is gVisor, the second sandbox (`[gvisor]` in config.toml);
# nix-bin lets the tests parse and evaluate the Nix files (nixpkgs itself cannot be fetched here);
# The shellcheck package checks every shell script; chromium renders /docs and /redoc in the
# browser tests.
wanted="$(PYTHONPATH=. python3 -m sandkasten_py.hostbuild --print-apt-packages) slirp4netns nftables runsc nix-bin shellcheck chromium chromium-driver"
missing=()
for package in $wanted; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null || true)
    [ "$status" = installed ] || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >"$log" 2>&1 || fail "apt-get update"
    apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$log" 2>&1 || fail "apt-get install"
fi

# 2. The venv, reinstalled when pyproject.toml changes.
stamp=.venv/.pyproject.sha256
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setup: installing the Python environment into .venv"
    [ -x .venv/bin/python ] || python3 -m venv .venv >"$log" 2>&1 || fail "python3 -m venv"
    .venv/bin/pip install -q --disable-pip-version-check -e '.[test,wasm]' >>"$log" 2>&1 || fail "pip install"
    echo "$want" >"$stamp"
fi

# 3. Parent cgroups for the per-job cgroups (cgroup v1; on v2 the daemon uses its delegated
#    subtree and nothing is needed here).
if [ ! -e /sys/fs/cgroup/cgroup.controllers ]; then
    for controller in memory pids cpuacct; do
        if [ -d "/sys/fs/cgroup/$controller" ] && [ ! -d "/sys/fs/cgroup/$controller/sandkasten" ]; then
            mkdir "/sys/fs/cgroup/$controller/sandkasten"
        fi
    done
fi

# 4. Environment manifests built from nix/packages with Debian's toolchains (quiet if unchanged).
.venv/bin/sandkasten host-build --packages-dir nix/packages --out pkgs
