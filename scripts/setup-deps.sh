#!/bin/sh
# Installs the Debian packages llmroute builds and tests with, when they
# are missing.  As root it runs apt-get; otherwise it stops and prints the
# exact command to run.  Called by `make check`, `make demo`, `make bench`.
set -eu

PKGS="build-essential pkg-config clang libclang-rt-14-dev valgrind
libcurl4-openssl-dev libinih-dev libcjson-dev libmicrohttpd-dev
libsqlite3-dev libhiredis-dev libcmocka-dev"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "setup-deps: missing packages:$missing"
if [ "$(id -u)" -eq 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing
else
    echo "setup-deps: run as root:  sudo apt-get install -y$missing" >&2
    exit 1
fi
