#!/usr/bin/env bash
# The whole test suite, from a fresh clone: formatting, lints, then every test in the
# workspace. Installs nothing by hand: whatever the tests need is set up here.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/sluice-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# A one-shot build gains nothing from incremental caches, which only cost disk.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

# ---- reference servers ----
# InfluxDB 1.6 (Debian's `influxdb`) is the reference behaviour for the InfluxQL
# cross-check in crates/sluice-query/tests/influxdb_crosscheck.rs.
if ! command -v influxd >/dev/null 2>&1; then
  echo "== installing influxdb (Debian) for the InfluxQL cross-check"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends influxdb >/dev/null
fi
# ---- end reference servers ----

# ---- compat: client libraries (owner: compatibility suite; see compat/README.md) ----
# Installs the pinned official InfluxDB clients (PyPI, npm) outside the repository; the
# suite itself is crates/sluice/tests/compat.rs, run by `cargo test --workspace` below,
# which fails instead of skipping when SLUICE_COMPAT_REQUIRED=1.
echo "== compat/setup.sh"
bash scripts/agent-services.sh # nginx, postgresql, redis-server for crates/sluice-agent/tests/services.rs
bash compat/setup.sh
bash scripts/agent-mq.sh  # mosquitto + podman for crates/sluice-agent/tests/{mqtt,docker}.rs
export SLUICE_COMPAT_REQUIRED=1
# ---- end compat ----
bash scripts/console-deps.sh  # chromium + playwright-core for crates/sluice/tests/console.rs
bash scripts/api-fuzz.sh      # schemathesis for crates/sluice/tests/api_fuzz.rs
bash scripts/iceberg-deps.sh  # pyiceberg + duckdb for crates/sluice/tests/serve_iceberg.rs
# s3s-fs for crates/sluice/tests/serve_object_store.rs
SLUICE_S3S_FS="$(bash scripts/s3-server.sh | tail -n 1)"
export SLUICE_S3S_FS
# Azurite (npm) for crates/sluice/tests/serve_azure.rs
SLUICE_AZURITE_DIR="$(bash scripts/azure-server.sh | tail -n 1)"
export SLUICE_AZURITE_DIR

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

# The line-protocol conformance corpus lives in `shared/conformance` beside the checkout.
# A clone made elsewhere (e.g. into a temporary directory) finds it beside the repository
# it was cloned from, when that is a local path.
if [ -z "${SLUICE_CONFORMANCE_DIR:-}" ] && [ ! -d ../shared/conformance ]; then
  origin=$(git config --get remote.origin.url 2>/dev/null || true)
  if [ -n "$origin" ] && [ -d "$origin/../shared/conformance" ]; then
    export SLUICE_CONFORMANCE_DIR="$(cd "$origin/../shared/conformance" && pwd)"
  fi
fi

echo "== cargo test"
cargo test --workspace
