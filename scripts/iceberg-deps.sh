#!/usr/bin/env bash
# Installs PyIceberg (with its SQL-catalog PostgreSQL driver and pyarrow) and DuckDB, both
# pinned, from PyPI for crates/sluice/tests/serve_iceberg.rs, which reads the Iceberg
# tables sluice publishes with them. Outside the repository, idempotent:
#
#   bash scripts/iceberg-deps.sh        # prints the environment directory on its last line
#
# Where: $SLUICE_ICEBERG_ENV, else $CARGO_TARGET_DIR/iceberg-env, else
# /var/tmp/sluice-target/iceberg-env. Needs python3 with venv (compat/setup.sh installs
# Debian's python3-venv when missing and runs first). Reaches only PyPI.
set -euo pipefail
packages=("pyiceberg[sql-postgres,pyarrow]==0.12.0" "duckdb==2.0.1")
env_dir="${SLUICE_ICEBERG_ENV:-${CARGO_TARGET_DIR:-/var/tmp/sluice-target}/iceberg-env}"
stamp="$env_dir/installed.stamp"
want="${packages[*]} $(python3 --version 2>&1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$env_dir/venv/bin/python" ]; then
    echo "scripts/iceberg-deps.sh: ${packages[*]} already installed"
    echo "$env_dir"
    exit 0
fi
echo "scripts/iceberg-deps.sh: installing ${packages[*]} into $env_dir"
rm -rf "$env_dir"
mkdir -p "$env_dir"
python3 -m venv "$env_dir/venv"
"$env_dir/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    "${packages[@]}"
echo "$want" >"$stamp"
echo "$env_dir"
