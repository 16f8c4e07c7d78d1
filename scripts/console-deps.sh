#!/usr/bin/env bash
# Installs what the console's end-to-end test (crates/sluice/tests/console.rs) needs, outside
# the repository, and does nothing when it is already there:
#   - Debian's `chromium` (the browser Playwright drives; Playwright never downloads one),
#   - console/e2e's pinned npm packages (playwright-core) into $SLUICE_CONSOLE_E2E_DIR,
#     else $CARGO_TARGET_DIR/console-e2e, else /var/tmp/sluice-target/console-e2e.
# Node and npm are needed by the console's build anyway (crates/sluice-server/build.rs);
# Debian's nodejs and npm are installed when missing. Reaches only Debian's archive and npm.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
e2e_dir="${SLUICE_CONSOLE_E2E_DIR:-${CARGO_TARGET_DIR:-/var/tmp/sluice-target}/console-e2e}"

apt_updated=0
apt_install() {
    if ! command -v apt-get >/dev/null; then
        echo "scripts/console-deps.sh: $* is missing and apt-get is not available: install it by hand" >&2
        exit 1
    fi
    if [ "$apt_updated" = 0 ]; then
        apt-get update -qq
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if [ ! -x /usr/bin/chromium ]; then
    echo "scripts/console-deps.sh: installing Debian's chromium for the console's browser test"
    apt_install chromium
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "scripts/console-deps.sh: node or npm is missing; installing Debian's nodejs and npm"
    apt_install nodejs npm
fi

stamp_text="$(
    echo "node $(node --version)"
    sha256sum "$here/console/e2e/package.json" "$here/console/e2e/package-lock.json" | cut -d' ' -f1
)"
stamp="$e2e_dir/installed.stamp"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$stamp_text" ] &&
    [ -d "$e2e_dir/node_modules/playwright-core" ]; then
    echo "scripts/console-deps.sh: chromium and playwright-core already installed"
    exit 0
fi
rm -rf "$e2e_dir"
mkdir -p "$e2e_dir"
cp "$here/console/e2e/package.json" "$here/console/e2e/package-lock.json" "$e2e_dir/"
(cd "$e2e_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
echo "$stamp_text" >"$stamp"
echo "scripts/console-deps.sh: done ($e2e_dir)"
