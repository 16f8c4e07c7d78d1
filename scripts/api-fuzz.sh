#!/usr/bin/env bash
# Installs Schemathesis (PyPI, pinned) for crates/sluice/tests/api_fuzz.rs, which runs it
# against a live `sluice serve` from docs/openapi.yaml. Outside the repository, idempotent:
#
#   bash scripts/api-fuzz.sh        # prints the environment directory on its last line
#
# Where: $SLUICE_API_FUZZ_ENV, else $CARGO_TARGET_DIR/api-fuzz-env, else
# /var/tmp/sluice-target/api-fuzz-env. Needs python3 with venv (compat/setup.sh installs
# Debian's python3-venv when missing and runs first). Reaches only PyPI.
set -euo pipefail
version="4.32.5"
env_dir="${SLUICE_API_FUZZ_ENV:-${CARGO_TARGET_DIR:-/var/tmp/sluice-target}/api-fuzz-env}"
stamp="$env_dir/installed.stamp"
want="schemathesis==$version $(python3 --version 2>&1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$env_dir/venv/bin/schemathesis" ]; then
    echo "scripts/api-fuzz.sh: schemathesis $version already installed"
    echo "$env_dir"
    exit 0
fi
echo "scripts/api-fuzz.sh: installing schemathesis $version into $env_dir"
rm -rf "$env_dir"
mkdir -p "$env_dir"
python3 -m venv "$env_dir/venv"
"$env_dir/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    "schemathesis==$version"
echo "$want" >"$stamp"
echo "$env_dir"
