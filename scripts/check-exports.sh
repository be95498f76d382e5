#!/bin/sh
# check-exports.sh BUILD_DIR - the dynamic symbol tables match the design:
#   BUILD_DIR/plugins/*.so   export exactly lr_plugin_entry;
#   BUILD_DIR/libllmroute.so exports exactly the functions declared with
#                            LR_API in include/llmroute.h (read from the
#                            header, so the check follows it).
# Uses nm -D --defined-only.  Nothing is filtered out: with this project's
# toolchains (Debian 12: gcc 12, clang 14 with or without ASan/UBSan,
# binutils 2.40) neither plugins nor the library carry linker symbols such
# as _init, _fini, _edata or __bss_start in .dynsym, so any extra name is
# a real leak (a function missing `static`, or a visibility mistake).
# Prints what is missing or extra per file; exit 1 on any mismatch.
set -eu

B=${1:-build}
HEADER=include/llmroute.h
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
status=0

# Defined dynamic symbols of $1, one per line, sorted, version suffix
# (name@@VER) dropped.
exports() {
    nm -D --defined-only "$1" |
        awk 'NF >= 2 { sub(/@.*/, "", $NF); print $NF }' | LC_ALL=C sort -u
}

# The LR_API function names of the header: drop preprocessor lines (the
# #define LR_API itself), join the text, strip comments, cut it into
# declarations at ';', and take the identifier before the first '(' of
# each declaration that starts with LR_API.
lr_api='^(.*[^A-Za-z0-9_])?LR_API[[:space:]][^(]*[^A-Za-z0-9_(]'
name='([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*[(].*$'
api_names() {
    grep -v '^[[:space:]]*#' "$1" | tr '\n' ' ' |
        sed -E 's@/\*([^*]|\*+[^*/])*\*+/@ @g' | tr ';' '\n' |
        sed -n -E "s/$lr_api$name/\\2/p" | LC_ALL=C sort -u
}

# compare FILE EXPECTED_LIST ACTUAL_LIST
compare() {
    if cmp -s "$2" "$3"; then
        return 0
    fi
    echo "check-exports: $1: exported symbols differ from the expected list" >&2
    LC_ALL=C comm -23 "$2" "$3" | sed 's/^/    missing: /' >&2
    LC_ALL=C comm -13 "$2" "$3" | sed 's/^/    extra:   /' >&2
    status=1
}

if [ ! -f "$B/libllmroute.so" ]; then
    echo "check-exports: $B/libllmroute.so not found (build first)" >&2
    exit 1
fi

api_names "$HEADER" >"$tmp/api"
if [ ! -s "$tmp/api" ]; then
    echo "check-exports: found no LR_API declaration in $HEADER" >&2
    exit 1
fi
exports "$B/libllmroute.so" >"$tmp/lib"
compare "$B/libllmroute.so" "$tmp/api" "$tmp/lib"

echo lr_plugin_entry >"$tmp/plugin"
n=0
for so in "$B"/plugins/*.so; do
    [ -e "$so" ] || continue
    n=$((n + 1))
    exports "$so" >"$tmp/got"
    compare "$so" "$tmp/plugin" "$tmp/got"
done

if [ "$status" -eq 0 ]; then
    echo "check-exports: ok ($(wc -l <"$tmp/api") API functions in" \
        "libllmroute.so, $n plugins export only lr_plugin_entry)"
fi
exit "$status"
