#!/bin/sh
# Installs the Debian packages llmroute builds and tests with, when they
# are missing.  As root it runs apt-get; otherwise it stops and prints the
# exact command to run.  Called by `make check`, `make demo`, `make bench`.
set -eu

PKGS="build-essential pkg-config clang libclang-rt-14-dev valgrind
libcurl4-gnutls-dev libinih-dev libcjson-dev libmicrohttpd-dev
libsqlite3-dev libhiredis-dev libcmocka-dev locales"
# libcurl4-gnutls-dev: curl's GnuTLS flavour, because libmicrohttpd
# already brings GnuTLS into the gateway; the OpenSSL flavour would add
# libssl and OpenSSL's initialisation on top (about 0.5 MiB of idle RSS).
# Either flavour builds and passes the tests: an installed
# libcurl4-openssl-dev is accepted and left alone (the two conflict).
# locales: the sources the comma-decimal locale tests compile a de_DE
# from (tests/support/comma_locale.c).
# Optional: installed as root, otherwise only mentioned.  chromium runs
# the gateway dashboard's browser test (tests/unit/test_serve_metrics.c),
# which is skipped without it.
OPTIONAL="chromium"

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=""
for p in $PKGS; do
    [ "$p" = libcurl4-gnutls-dev ] && installed libcurl4-openssl-dev &&
        continue
    installed "$p" || missing="$missing $p"
done
optional=""
for p in $OPTIONAL; do
    installed "$p" || optional="$optional $p"
done
if [ "$(id -u)" -ne 0 ] && [ -n "$optional" ]; then
    echo "setup-deps: optional, not installed (tests using them are" \
         "skipped):$optional; as root: apt-get install -y$optional" >&2
    optional=""
fi
missing="$missing$optional"
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
