#!/usr/bin/env bash
# Installs the official InfluxDB client libraries the compatibility suite runs against
# sluice (compat/requirements.txt for Python, compat/js/package-lock.json for node,
# compat/go/go.mod + go.sum for Go, compat/java/pom.xml for Java) into a throwaway
# directory outside the repository, and does nothing when they are already there. Then it
# builds the Go and Java scenario programs there, again only when their sources changed.
#
#   bash compat/setup.sh            # prints the environment directory on its last line
#
# Where: $SLUICE_COMPAT_ENV, else $CARGO_TARGET_DIR/compat-env, else
# /var/tmp/sluice-target/compat-env (crates/sluice/tests/compat.rs looks in the same place).
# Needs python3 (with venv; Debian's python3-venv is installed with apt-get when venv or
# ensurepip is missing), node + npm (Debian's nodejs and npm are installed when missing),
# Go 1.26 or later (Debian's is older: install it from go.dev), and Java 17 with Maven
# (Debian's openjdk-17-jdk-headless and maven are installed when missing).
# Reaches only PyPI, npm, the Go module proxy, Maven Central and Debian's package archive.
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
if ! command -v javac >/dev/null || ! command -v mvn >/dev/null; then
    echo "compat/setup.sh: javac or mvn is missing; installing Debian's openjdk-17-jdk-headless and maven"
    apt_install openjdk-17-jdk-headless maven
fi
if ! command -v go >/dev/null; then
    echo "compat/setup.sh: go is missing: install Go 1.26 or later (https://go.dev/dl/)" >&2
    exit 1
fi

# Go and Maven keep everything under the environment directory: nothing in the repository
# or the home directory. GOTOOLCHAIN=local: an older go fails instead of fetching another.
export GOPATH="$env_dir/go/path" GOMODCACHE="$env_dir/go/path/pkg/mod" GOCACHE="$env_dir/go/cache"
export GOFLAGS="-mod=readonly -modcacherw" GOTOOLCHAIN=local GOTELEMETRY=off
mvn_run() {
    mvn -B -q -Dstyle.color=never -Dmaven.repo.local="$env_dir/java/m2" -Dsluice.compat.build="$env_dir/java/build" \
        -f "$here/java/pom.xml" "$@"
}

# The stamp names everything the environment was built from (this script too); any
# change rebuilds it.
stamp_text="$(
    python3 --version 2>&1
    echo "node $(node --version)"
    go version
    javac -version 2>&1
    mvn -v 2>/dev/null | head -1
    sha256sum "$here/requirements.txt" "$here/js/package.json" "$here/js/package-lock.json" \
        "$here/go/go.mod" "$here/go/go.sum" "$here/java/pom.xml" "$here/setup.sh" | cut -d' ' -f1
)"
stamp="$env_dir/installed.stamp"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$stamp_text" ] &&
    [ -x "$env_dir/venv/bin/python" ] && [ -d "$env_dir/js/node_modules/@influxdata" ] &&
    [ -d "$GOMODCACHE/github.com/influxdata" ] && [ -d "$env_dir/java/lib" ]; then
    echo "compat/setup.sh: clients already installed with the pinned versions"
else
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

    # The modules go.sum pins (verified against it).
    (cd "$here/go" && go mod download)
    # The jars pom.xml pins and the plugins that compile against them (compiling the
    # scenarios once fetches those; later builds run offline).
    mvn_run compile dependency:copy-dependencies -DincludeScope=runtime \
        -DoutputDirectory="$env_dir/java/lib"
    touch "$env_dir/java/built.stamp"

    "$env_dir/venv/bin/python" - <<'EOF'
import influxdb, influxdb_client, influxdb_client_3  # noqa: F401  (fails loudly if broken)
EOF
    NODE_PATH="$env_dir/js/node_modules" node -e \
        'require("@influxdata/influxdb-client"); require("@influxdata/influxdb3-client")'

    echo "$stamp_text" >"$stamp"
fi

# The Go and Java scenario programs, rebuilt only when one of their files is newer than
# the build (crates/sluice/tests/compat.rs refuses to run a program older than its sources).
stale() { # BUILT DIR: BUILT is missing, or a file under DIR is newer
    [ ! -e "$1" ] || [ -n "$(find "$2" -type f -newer "$1" -print -quit)" ]
}
if stale "$env_dir/go/bin/compat" "$here/go"; then
    echo "compat/setup.sh: building the Go scenarios (compat/go)"
    (cd "$here/go" && go build -o "$env_dir/go/bin/compat" .)
fi
if stale "$env_dir/java/built.stamp" "$here/java"; then
    echo "compat/setup.sh: building the Java scenarios (compat/java)"
    rm -rf "$env_dir/java/build"
    mvn_run -o compile
    touch "$env_dir/java/built.stamp"
fi
echo "compat/setup.sh: done"
echo "$env_dir"
