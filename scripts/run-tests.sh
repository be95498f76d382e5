#!/bin/sh
# Runs every unit/integration test binary in BUILD/tests, optionally under
# valgrind, and ends with one "N passed, N failed" line.  Exit 1 on any
# failure.
set -u
B=${1:-build}
MODE=${2:-}
pass=0; fail=0; failed=""
export LLMROUTE_TEST_BUILD="$B"
for t in "$B"/tests/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    if [ "$MODE" = valgrind ]; then
        set -- valgrind -q --error-exitcode=99 --leak-check=full \
            --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
            --suppressions=scripts/valgrind.supp "$t"
    else
        set -- "$t"
    fi
    if timeout 600 "$@"; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1)); failed="$failed $name"
    fi
done
[ -n "$failed" ] && echo "failed test programs:$failed"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
