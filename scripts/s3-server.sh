#!/usr/bin/env bash
# Installs s3s-fs, the S3-compatible server (files in a local directory) that
# crates/sluice/tests/serve_object_store.rs runs sluice against, from the Rust crate
# registry at a pinned version. Does nothing when it is already installed. The tests
# start their own instances on free loopback ports in temporary directories.
#
#   bash scripts/s3-server.sh        # prints the binary's path last
#
# Installs into $SLUICE_TOOLS_DIR (default /var/tmp/sluice-tools); reaches only crates.io.
set -euo pipefail

version=0.13.0
root="${SLUICE_TOOLS_DIR:-/var/tmp/sluice-tools}/s3s-fs-$version"
bin="$root/bin/s3s-fs"
if [ ! -x "$bin" ]; then
    echo "== scripts/s3-server.sh: building s3s-fs $version (crates.io)" >&2
    # Its own target directory: the workspace's stays untouched. A debug build (7 min
    # here while other builds shared the two cores) is quicker to make than a release
    # one and fast enough for the tests' few megabytes.
    CARGO_TARGET_DIR="$root/target" cargo install s3s-fs --version "$version" \
        --features binary --locked --debug --root "$root" --quiet >&2
    rm -rf "$root/target"
fi
echo "$bin"
