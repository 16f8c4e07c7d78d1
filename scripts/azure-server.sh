#!/usr/bin/env bash
# Installs Azurite, the Azure Storage emulator (npm), and the Azure Blob SDK for
# JavaScript that scripts/azure-blob.js uses to create containers and read blobs, at
# pinned versions, for crates/sluice/tests/serve_azure.rs. Does nothing when they are
# installed. The tests start their own emulators on free loopback ports.
#
#   bash scripts/azure-server.sh        # prints the install directory last
#
# Installs into $SLUICE_TOOLS_DIR (default /var/tmp/sluice-tools); reaches only npm.
set -euo pipefail

azurite=3.37.0
blob_sdk=12.34.0
root="${SLUICE_TOOLS_DIR:-/var/tmp/sluice-tools}/azurite-$azurite"
if [ ! -x "$root/node_modules/.bin/azurite-blob" ] || [ ! -d "$root/node_modules/@azure/storage-blob" ]; then
    echo "== scripts/azure-server.sh: installing azurite $azurite (npm)" >&2
    mkdir -p "$root"
    npm install --prefix "$root" --no-audit --no-fund --loglevel=error \
        "azurite@$azurite" "@azure/storage-blob@$blob_sdk" >&2
fi
echo "$root"
