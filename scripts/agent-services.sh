#!/usr/bin/env bash
# Installs the servers sluice-agent's service-input tests run against (Debian's nginx,
# postgresql and redis-server), plus systemd-analyze for the unit checks in
# crates/sluice-agent/tests/packaging.rs and openssl for test certificates. Does
# nothing when they are already there. The tests start their own instances on free
# loopback ports in temporary directories; services the packages would start are kept
# from starting while installing.
#
#   bash scripts/agent-services.sh
#
# Reaches only Debian's package archive.
set -euo pipefail

missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "scripts/agent-services.sh: ${missing[*]} missing and apt-get is not available: install them by hand" >&2
    exit 1
fi
echo "== scripts/agent-services.sh: installing ${missing[*]} (Debian)"

# Keep the packages' maintainer scripts from starting services (port 80, 5432, 6379):
# the tests start their own. Only a policy file created here is removed again.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 0755 "$policy"
    trap 'rm -f "$policy"' EXIT
fi

export DEBIAN_FRONTEND=noninteractive
# Another installer may hold apt's locks for a while: wait for them.
for attempt in 1 2 3 4 5 6; do
    if apt-get -o DPkg::Lock::Timeout=300 update -qq; then
        break
    fi
    [ "$attempt" = 6 ] && exit 1
    sleep 10
done
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "== scripts/agent-services.sh: done"
