#!/usr/bin/env bash
# Installs the official InfluxDB client libraries the compatibility suite runs against
# sluice (compat/requirements.txt for Python, compat/js/package-lock.json for node) into a
# throwaway directory outside the repository, and does nothing when they are already there.
#
#   bash compat/setup.sh            # prints the environment directory on its last line
#
# Where: $SLUICE_COMPAT_ENV, else $CARGO_TARGET_DIR/compat-env, else
# /var/tmp/sluice-target/compat-env (crates/sluice/tests/compat.rs looks in the same place).
# Needs python3 (with venv; Debian's python3-venv is installed with apt-get when venv or
# ensurepip is missing) and node + npm (Debian's nodejs and npm are installed when missing).
# Reaches only PyPI, npm and Debian's package archive.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
env_dir="${SLUICE_COMPAT_ENV:-${CARGO_TARGET_DIR:-/var/tmp/sluice-target}/compat-env}"

apt_updated=0
apt_install() {
    if ! command -v apt-get >/dev/null; then
        echo "compat/setup.sh: $* is missing and apt-get is not available: install it by hand" >&2
        exit 1
    fi
    if [ "$apt_updated" = 0 ]; then
        apt-get update -qq
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    echo "compat/setup.sh: python3 has no venv/ensurepip; installing Debian's python3-venv"
    apt_install python3-venv
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "compat/setup.sh: node or npm is missing; installing Debian's nodejs and npm"
    apt_install nodejs npm
fi

# The stamp names everything the environment was built from; any change rebuilds it.
stamp_text="$(
    python3 --version 2>&1
    echo "node $(node --version)"
    sha256sum "$here/requirements.txt" "$here/js/package.json" "$here/js/package-lock.json" |
        cut -d' ' -f1
)"
stamp="$env_dir/installed.stamp"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$stamp_text" ] &&
    [ -x "$env_dir/venv/bin/python" ] && [ -d "$env_dir/js/node_modules/@influxdata" ]; then
    echo "compat/setup.sh: clients already installed with the pinned versions"
    echo "$env_dir"
    exit 0
fi

echo "compat/setup.sh: installing the pinned clients into $env_dir"
rm -rf "$env_dir"
mkdir -p "$env_dir/js"

python3 -m venv "$env_dir/venv"
"$env_dir/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    -r "$here/requirements.txt"

cp "$here/js/package.json" "$here/js/package-lock.json" "$env_dir/js/"
# --ignore-scripts: no package here needs an install script (protobufjs's only checks
# versions), and running none keeps the install to the registry's tarballs.
(cd "$env_dir/js" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)

"$env_dir/venv/bin/python" - <<'EOF'
import influxdb, influxdb_client, influxdb_client_3  # noqa: F401  (fails loudly if broken)
EOF
NODE_PATH="$env_dir/js/node_modules" node -e \
    'require("@influxdata/influxdb-client"); require("@influxdata/influxdb3-client")'

echo "$stamp_text" >"$stamp"
echo "compat/setup.sh: done"
echo "$env_dir"
