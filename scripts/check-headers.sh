#!/bin/sh
# The status enum is written out in both public headers (each must stand
# alone); fail when the two copies drift apart.
set -eu
extract() { sed -n '/^#ifndef LR_STATUS_DEFINED/,/^#endif \/\* LR_STATUS_DEFINED/p' "$1"; }
a=$(extract include/llmroute.h)
b=$(extract include/llmroute_plugin.h)
if [ -z "$a" ] || [ "$a" != "$b" ]; then
    echo "check-headers: enum lr_status differs between include/llmroute.h and include/llmroute_plugin.h" >&2
    exit 1
fi
echo "check-headers: ok"
