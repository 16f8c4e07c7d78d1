#!/usr/bin/env bash
# Installs the servers the sluice-agent service-input tests start themselves:
# Debian's `mosquitto` (broker) and `mosquitto-clients` (mosquitto_pub) for
# `inputs.mqtt_consumer`, and `podman` (its Docker-compatible API) with `busybox-static`
# (the root filesystem of the test image) for `inputs.docker`.
#
#   bash scripts/agent-mq.sh     # idempotent: does nothing when everything is present
#
# The tests (crates/sluice-agent/tests/mqtt.rs, docker.rs) fail instead of skipping when
# these are missing and SLUICE_COMPAT_REQUIRED=1 (set by scripts/test.sh).
# Reaches only Debian's package archive.
set -euo pipefail

missing=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v mosquitto_pub >/dev/null 2>&1 || missing+=(mosquitto-clients)
command -v podman >/dev/null 2>&1 || missing+=(podman)
command -v runc >/dev/null 2>&1 || [ -x /usr/sbin/runc ] || missing+=(runc)
[ -x /bin/busybox ] || [ -x /usr/bin/busybox ] || missing+=(busybox-static)

if [ "${#missing[@]}" -eq 0 ]; then
    echo "scripts/agent-mq.sh: mosquitto, mosquitto-clients, podman, runc and busybox are installed"
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    echo "scripts/agent-mq.sh: ${missing[*]} missing and apt-get is not available: install by hand" >&2
    exit 1
fi
echo "scripts/agent-mq.sh: installing ${missing[*]} (Debian)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The packaged broker service is not wanted: the tests start their own brokers on free
# loopback ports. Stopping it is best effort (there may be no init system).
if command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now mosquitto >/dev/null 2>&1 || true
fi
