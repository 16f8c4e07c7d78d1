#!/usr/bin/env bash
# The whole test suite, from a fresh clone: formatting, lints, then every test in the
# workspace. Installs nothing by hand: whatever the tests need is set up here.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/sluice-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# ---- compat: client libraries (owner: compatibility suite; see compat/README.md) ----
# Installs the pinned official InfluxDB clients (PyPI, npm) outside the repository; the
# suite itself is crates/sluice/tests/compat.rs, run by `cargo test --workspace` below,
# which fails instead of skipping when SLUICE_COMPAT_REQUIRED=1.
echo "== compat/setup.sh"
bash compat/setup.sh
export SLUICE_COMPAT_REQUIRED=1
# ---- end compat ----

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

echo "== cargo test"
cargo test --workspace
