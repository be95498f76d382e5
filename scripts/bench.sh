#!/bin/sh
# Runs the benchmarks of BUILD_DIR (default build) and prints their
# results; called by `make bench`.  See bench/README.md.
#
# The request-overhead benchmark runs twice:
#   pinned    the mock upstream (served by the driver process) on CPU 1,
#             the measured client processes on CPU 0, so that the mock
#             never takes the client's core: the headline figures;
#   unpinned  everything free on every CPU, as an application would run
#             (fewer requests; for comparison).
# On a 1-CPU machine only the unpinned run happens.  Each run is bounded
# by timeout(1); together they take well under two minutes.  JSON lines
# land in BUILD_DIR/bench/overhead-*.json.  Exit 1 if a run failed.
set -u
B=${1:-build}
bin="$B/bench/bench_overhead"
if [ ! -x "$bin" ] || [ ! -x "$B/bench/bench_client" ]; then
    echo "bench: $bin or bench_client missing; run make bench" >&2
    exit 1
fi
if [ ! -f "$B/plugins/openai.so" ]; then
    echo "bench: $B/plugins/openai.so missing (the openai provider)" >&2
    exit 1
fi
ncpu=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
status=0

if [ "$ncpu" -ge 2 ]; then
    timeout 150 "$bin" --label pinned --mock-cpu 1 --bench-cpu 0 \
        --json "$B/bench/overhead-pinned.json" || status=1
    echo
fi
timeout 90 "$bin" --label unpinned --requests 10000,20000 --rounds 3 \
    --json "$B/bench/overhead-unpinned.json" || status=1
exit $status
