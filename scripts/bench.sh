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
# land in BUILD_DIR/bench/overhead-*.json.
#
# Then the routing-quality step (route_eval, about a second): route_eval's
# selftest; the RouteLLM MT-Bench and GSM8K prompts exported as JSONL;
# `llmroute classify -c bench/route_eval.ini --in` on each; route_eval
# score prints APGR, CPT and cost for the complexity policy next to the
# random and length baselines, then again for the held-out test half of
# GSM8K alone (route_eval --gsm-half test).  Without build/plugins/complexity.so it
# prints "complexity plugin not built: skipped" and the baselines only.
# The data folder is $ROUTE_EVAL_DATA (default: routellm-evals in the
# shared/data folder beside the repository); without it the step is
# skipped.  Files land in BUILD_DIR/bench/route_eval-out/.
#
# Last, the gateway benchmark (scripts/bench-gateway.sh, about two
# minutes, more the first time as it installs Portkey with npm): req/s,
# p50/p99 and peak RSS through `llmroute serve`, directly to the mock and
# through the Portkey gateway, at 1, 16 and 64 connections.
#
#   sh scripts/bench.sh [BUILD_DIR] [route_eval|gateway]
# With "route_eval" or "gateway", only that step runs.  Exit 1 if a run
# failed.
set -u
B=${1:-build}
only=${2:-}
root=$(cd "$(dirname "$0")/.." && pwd)

route_eval() {
    re="$B/bench/route_eval"
    data=${ROUTE_EVAL_DATA:-$root/../shared/data/routellm-evals}
    out="$B/bench/route_eval-out"
    echo "== route_eval: routing quality on RouteLLM's MT-Bench and GSM8K"
    if [ ! -x "$re" ]; then
        echo "bench: $re missing; run make bench" >&2
        return 1
    fi
    if [ ! -f "$data/gsm8k_responses.csv" ]; then
        echo "route_eval: no RouteLLM data in $data: skipped"
        return 0
    fi
    mkdir -p "$out"
    if ! "$re" selftest >"$out/selftest.txt"; then
        cat "$out/selftest.txt"
        return 1
    fi
    echo "route_eval selftest: passed"
    "$re" export --data "$data" --out-mt "$out/mt.jsonl" \
        --out-gsm "$out/gsm.jsonl" || return 1
    if [ ! -f "$B/plugins/complexity.so" ]; then
        echo "complexity plugin not built: skipped"
        echo
        "$re" score --data "$data"
        return $?
    fi
    for set in mt gsm; do
        if ! LLMROUTE_PLUGIN_DIR="$B/plugins" timeout 120 "$B/llmroute" \
            classify -c "$root/bench/route_eval.ini" --in "$out/$set.jsonl" \
            >"$out/$set-scores.jsonl"; then
            echo "route_eval: llmroute classify failed on $out/$set.jsonl" >&2
            return 1
        fi
    done
    echo
    "$re" score --data "$data" --mt "$out/mt-scores.jsonl" \
        --gsm "$out/gsm-scores.jsonl" || return 1
    echo
    echo "== route_eval: GSM8K test half (held out; split in bench/README.md)"
    "$re" score --data "$data" --gsm "$out/gsm-scores.jsonl" --gsm-half test
}

if [ "$only" = route_eval ]; then
    route_eval
    exit $?
fi
if [ "$only" = gateway ]; then
    sh "$root/scripts/bench-gateway.sh" "$B"
    exit $?
fi
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
echo
route_eval || status=1
echo
sh "$root/scripts/bench-gateway.sh" "$B" || status=1
exit $status
