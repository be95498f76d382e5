#!/bin/sh
# install_test.sh BUILD_DIR - `make install` into a temporary PREFIX and
# use the result as a packager and an application would:
#   - llmroute.pc: modversion is LR_VERSION, plugindir is
#     PREFIX/lib/llmroute/plugins;
#   - a small C program compiles and links with
#     `pkg-config --cflags --libs llmroute` alone (warnings are errors),
#     then runs against the installed shared library: it scans plugindir
#     and reads the default plugin dir of a config that names none, which
#     must be the installed plugindir (the library follows PREFIX);
#   - the installed CLI agrees (`llmroute plugins -c` on the same config);
#   - `make uninstall` leaves no file behind.
# The install is built in BUILD_DIR/install, a build dir of its own, since
# the plugin dir is compiled in.  Run by `make install-check` (part of
# `make test`); MAKE, CC and SANFLAGS come from the Makefile.
set -eu

B=${1:-build}
MAKE=${MAKE:-make}
CC=${CC:-cc}
SANFLAGS=${SANFLAGS:-}
prefix=$(mktemp -d)
work=$(mktemp -d)
trap 'rm -rf "$prefix" "$work"' EXIT INT TERM
# It would override the compiled-in default this test is about.
unset LLMROUTE_PLUGIN_DIR

fail() {
    echo "install-check: FAIL: $*" >&2
    exit 1
}

# Quiet unless it fails: the install recipe echoes every command.
if ! $MAKE --no-print-directory BUILD="$B/install" PREFIX="$prefix" \
    install >"$work/make.log" 2>&1; then
    cat "$work/make.log" >&2
    fail "make install PREFIX=$prefix failed"
fi

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
[ -f "$PKG_CONFIG_PATH/llmroute.pc" ] || fail "llmroute.pc not installed"
want_version=$(sed -n 's/^#define LR_VERSION "\(.*\)"/\1/p' \
    include/llmroute.h)
version=$(pkg-config --modversion llmroute) ||
    fail "pkg-config cannot read llmroute.pc"
[ "$version" = "$want_version" ] ||
    fail "pkg-config --modversion gives '$version', want '$want_version'"
plugindir=$(pkg-config --variable=plugindir llmroute)
[ "$plugindir" = "$prefix/lib/llmroute/plugins" ] ||
    fail "plugindir is '$plugindir', want '$prefix/lib/llmroute/plugins'"
ls "$plugindir"/*.so >/dev/null 2>&1 || fail "no plugin installed in $plugindir"
libdir=$(pkg-config --variable=libdir llmroute)

cat >"$work/app.c" <<'EOF'
/* Uses the installed headers and library only. */
#include <llmroute.h>
#include <llmroute_plugin.h>
#include <stdio.h>
#include <string.h>

static void seen(const struct lr_plugin_info *p, void *user)
{
    int *n = user;
    if (p->error)
        fprintf(stderr, "broken plugin: %s\n", p->error);
    else
        (*n)++;
}

int main(int argc, char **argv)
{
    char err[1024], dir[4096];
    int n = 0;
    if (argc != 3 || strcmp(lr_status_name(LR_E_RATE_LIMITED),
                            "rate_limited") != 0)
        return 1;
    if (lr_plugin_scan(argv[1], seen, &n, err, sizeof err) != 0 || n == 0) {
        fprintf(stderr, "scan of %s: %d good plugins %s\n", argv[1], n, err);
        return 1;
    }
    if (lr_config_plugin_dir(argv[2], dir, sizeof dir, err,
                             sizeof err) != LR_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    printf("plugins=%d default_dir=%s abi=%d\n", n, dir,
           LR_PLUGIN_ABI_MAJOR);
    return 0;
}
EOF
printf '[router]\ntimeout_ms = 5000\n' >"$work/noplugindir.ini"

# shellcheck disable=SC2046,SC2086
$CC -std=c11 -Wall -Wextra -Werror -pedantic $SANFLAGS -o "$work/app" \
    "$work/app.c" $(pkg-config --cflags --libs llmroute) \
    -Wl,-rpath,"$libdir" || fail "cannot build a program with pkg-config flags"
out=$("$work/app" "$plugindir" "$work/noplugindir.ini") ||
    fail "the program built against the install failed"
case "$out" in
*"default_dir=$plugindir abi="*) ;;
*) fail "library default plugin dir does not follow PREFIX: $out" ;;
esac

"$prefix/bin/llmroute" plugins -c "$work/noplugindir.ini" >"$work/cli.out" ||
    fail "installed llmroute plugins -c: $(cat "$work/cli.out")"
grep -q "$plugindir/" "$work/cli.out" ||
    fail "installed CLI does not look in $plugindir: $(cat "$work/cli.out")"

$MAKE --no-print-directory BUILD="$B/install" PREFIX="$prefix" \
    uninstall >"$work/make.log" 2>&1 || fail "make uninstall failed"
left=$(find "$prefix" ! -type d)
[ -z "$left" ] || fail "make uninstall left: $left"

echo "install-check: ok (pkg-config $version, $out)"
