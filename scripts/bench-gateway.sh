#!/bin/sh
# The gateway benchmark (bench/README.md, "make bench: the gateway"):
# requests per second, p50/p99 latency, 40 ms stalls and peak RSS of
#   direct    bench_gateway -> the mock upstream
#   llmroute  bench_gateway -> `llmroute serve` -> the mock
#   portkey   bench_gateway -> the Portkey AI gateway (npm) -> the mock
# at 1, 16 and 64 keep-alive connections, then the goals, met or missed.
# Reference rows, relay and relay-spin (busy-polling, one connection),
# measure bench/relay_floor.c in the gateway's place: a TCP relay that
# parses nothing, so what the hop alone costs on this machine (the floor
# of any gateway's latency and rate).
#
# Pinning (2 CPUs or more): the gateway under test alone on CPU 0; the
# mock (build/mock-upstream, zero delay) and the load generator on CPU 1.
# With one CPU everything runs unpinned and the figures mean little.
#
# Portkey is installed once with npm into BUILD/bench/portkey (re-runs
# reuse it); if npm cannot install it, "portkey: skipped (npm install
# failed)" and the rest goes on.  Every server is stopped at the end,
# every step is bounded by timeout(1).  JSON lines (one per run) land in
# BUILD/bench/gateway.json.
#
#   sh scripts/bench-gateway.sh [BUILD_DIR]
# Environment: GW_BENCH_REQUESTS (default 20000 per run), GW_BENCH_TIME
# (seconds per run, default 8), GW_BENCH_CONNS (default "1 16 64"),
# PORTKEY_VERSION (default 1.15.2), GW_BENCH_SCHED=fifo (run the servers
# and the generator under `chrt -f 1`, SCHED_FIFO, as root: on a machine
# shared with other work, a task woken from another CPU can otherwise
# wait a scheduler tick behind it, which the figures then measure;
# Portkey is left under the default policy: see portkey() below).
# Exit 1 when a request failed or a server would not start.
set -u
B=${1:-build}
Babs=$(cd "$B" 2>/dev/null && pwd)
gen="$B/bench/bench_gateway"
json="$B/bench/gateway.json"
requests=${GW_BENCH_REQUESTS:-20000}
secs=${GW_BENCH_TIME:-8}
levels=${GW_BENCH_CONNS:-1 16 64}
pk_version=${PORTKEY_VERSION:-1.15.2}
pk_dir="$B/bench/portkey"
pk_main="$pk_dir/node_modules/@portkey-ai/gateway/build/start-server.js"
expect=gateway-bench-ok
status=0
pids=

for f in "$gen" "$B/mock-upstream" "$B/llmroute" "$B/plugins/openai.so" \
         "$B/bench/relay_floor"; do
    if [ ! -x "$f" ] && [ ! -f "$f" ]; then
        echo "bench-gateway: $f missing; run make bench" >&2
        exit 1
    fi
done
ncpu=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
if [ "$ncpu" -ge 2 ] && command -v taskset >/dev/null; then
    gw_cpu="taskset -c 0"
    side_cpu="taskset -c 1"
else
    echo "bench-gateway: fewer than 2 CPUs (or no taskset): unpinned"
    gw_cpu=
    side_cpu=
fi
rt=
if [ "${GW_BENCH_SCHED:-}" = fifo ]; then
    rt="chrt -f 1"
    echo "bench-gateway: servers and generator run SCHED_FIFO (chrt -f 1)"
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/llmroute-gwbench-XXXXXX") || exit 1

stop() {        # stop PID: SIGTERM, then SIGKILL after 10 s
    kill -TERM "$1" 2>/dev/null || return 0
    i=0
    while kill -0 "$1" 2>/dev/null && [ $i -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    kill -KILL "$1" 2>/dev/null
    return 0
}
cleanup() {
    for p in $pids; do
        stop "$p"
    done
    pids=
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# start NAME CPU_PREFIX CMD...: runs CMD under timeout(1) with output in
# $tmp/NAME.out and .err; sets $srv_pid to the server's own pid (the
# child of timeout, since taskset and chrt exec the command).
start() {
    name=$1
    pin=$2
    shift 2
    timeout 900 $pin $rt "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
    t=$!
    srv_pid=
    i=0
    while [ -z "$srv_pid" ] && [ $i -lt 50 ]; do
        srv_pid=$(pgrep -P "$t" | head -n 1)
        [ -n "$srv_pid" ] || sleep 0.1
        i=$((i + 1))
    done
    [ -n "$srv_pid" ] || srv_pid=$t
    pids="$srv_pid $pids"
}

# wait_for FILE SED_EXPR SECS: the first match of SED_EXPR (sed -n, with
# p) in FILE, waiting up to SECS seconds.
wait_for() {
    i=0
    while [ $i -lt $(($3 * 10)) ]; do
        v=$(sed -n "$2" "$1" 2>/dev/null | head -n 1)
        if [ -n "$v" ]; then
            echo "$v"
            return 0
        fi
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

vm_kb() {       # vm_kb PID KEY: a /proc/PID/status figure in kB
    awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status" 2>/dev/null
}

# measure TARGET URL SERVER_PID IDLE_KB [--header H]...: every level.
measure() {
    target=$1 url=$2 spid=$3 idle=$4
    shift 4
    [ "$idle" = -1 ] || set -- --idle-rss-kb "$idle" "$@"
    for c in $levels; do
        timeout $((secs + 30)) $side_cpu $rt "$gen" run --url "$url" \
            --target "$target" --conns "$c" --requests "$requests" \
            --warmup 500 --time-limit "$secs" --expect "$expect" \
            --server-pid "$spid" --json "$json" "$@" || status=1
    done
}

mock_total() {  # requests the mock has answered so far
    curl -s -m 5 "http://127.0.0.1:$mport/_mock/stats" |
        sed -n 's/^{"total":\([0-9]*\).*/\1/p'
}

# --- The mock ---------------------------------------------------------
mkdir -p "$B/bench"
: >"$json"
printf '{"routes":[{"name":"bench","model":"*","responses":[{"status":200,'\
'"text":"%s"}]}]}\n' "$expect" >"$tmp/mock.json"
start mock "$side_cpu" "$B/mock-upstream" --script "$tmp/mock.json"
mock_pid=$srv_pid
if ! mport=$(wait_for "$tmp/mock.out" 's/^port=//p' 10); then
    echo "bench-gateway: the mock did not start:" >&2
    cat "$tmp/mock.err" >&2
    exit 1
fi
echo "== gateway benchmark: mock on 127.0.0.1:$mport (pid $mock_pid)," \
     "$requests requests or ${secs} s per run"
echo "-- direct: generator -> mock"
measure direct "http://127.0.0.1:$mport/v1/chat/completions" "$mock_pid" \
    "$(vm_kb "$mock_pid" VmRSS)"

# --- The relay floor ------------------------------------------------
# bench/relay_floor.c in the gateway's place: the same pinning and
# generator, bytes copied between the sockets and nothing parsed.  What
# it adds is the hop itself; what llmroute adds above it is its work.
# relay NAME [--busy-poll]: start it, measure every level, stop it.
relay() {
    start "$1" "$gw_cpu" "$B/bench/relay_floor" --upstream "$mport" ${2:-}
    relay_pid=$srv_pid
    if rport=$(wait_for "$tmp/$1.out" 's/^port=//p' 10); then
        echo "-- $1: generator -> TCP relay (CPU 0) -> mock"
        measure "$1" "http://127.0.0.1:$rport/v1/chat/completions" \
            "$relay_pid" -1
    else
        echo "bench-gateway: the relay did not start:" >&2
        cat "$tmp/$1.err" >&2
        status=1
    fi
    stop "$relay_pid"
}
relay relay
# The same relay busy-polling (it never sleeps, so no wake-up is paid on
# CPU 0), at one connection: the lowest added latency any gateway could
# reach here.
all_levels=$levels
levels=1
relay relay-spin --busy-poll
levels=$all_levels

# --- llmroute serve -------------------------------------------------
cat >"$tmp/gw.ini" <<EOF
[router]
plugin_dir = $Babs/plugins

[target bench]
provider = openai
model = bench-model
base_url = http://127.0.0.1:$mport/v1

[gateway]
listen = 127.0.0.1:0
EOF
start llmroute "$gw_cpu" "$B/llmroute" serve -c "$tmp/gw.ini"
gw_pid=$srv_pid
if gport=$(wait_for "$tmp/llmroute.out" 's/^listening on .*:\([0-9]*\)$/\1/p' 10)
then
    sleep 0.5
    idle=$(vm_kb "$gw_pid" VmRSS)
    echo "-- llmroute serve on 127.0.0.1:$gport (pid $gw_pid), idle RSS" \
         "$idle kB"
    measure llmroute "http://127.0.0.1:$gport/v1/chat/completions" \
        "$gw_pid" "$idle" --model bench
else
    echo "bench-gateway: llmroute serve did not start:" >&2
    cat "$tmp/llmroute.err" >&2
    status=1
fi
stop "$gw_pid"

# --- The idle RSS floor ---------------------------------------------
# bench/rss_floor.c: libcurl and libmicrohttpd loaded and started, no
# code of ours; its idle RSS is the part of the gateway's no change to
# llmroute can remove.  A JSON line with conns 0: the report prints it
# next to the goal, not as a row.
if [ -x "$B/bench/rss_floor" ]; then
    start rss-floor "$gw_cpu" "$B/bench/rss_floor"
    floor_pid=$srv_pid
    if wait_for "$tmp/rss-floor.out" 's/^port=//p' 10 >/dev/null; then
        sleep 0.5
        floor=$(vm_kb "$floor_pid" VmRSS)
        echo "-- idle RSS floor (libcurl + libmicrohttpd started, nothing" \
             "else): $floor kB"
        printf '{"target":"rss-floor","conns":0,"failures":0,"idle_rss_kb":%s}\n' \
            "$floor" >>"$json"
    fi
    stop "$floor_pid"
fi

# --- Portkey ----------------------------------------------------------
portkey() {
    if [ ! -f "$pk_main" ]; then
        echo "-- installing @portkey-ai/gateway@$pk_version into $pk_dir"
        mkdir -p "$pk_dir"
        if ! command -v npm >/dev/null ||
            ! timeout 600 npm install --no-save --no-audit --no-fund \
                --prefix "$pk_dir" "@portkey-ai/gateway@$pk_version" \
                >"$tmp/npm.log" 2>&1 || [ ! -f "$pk_main" ]; then
            echo "portkey: skipped (npm install failed)"
            tail -n 5 "$tmp/npm.log" 2>/dev/null
            return 0
        fi
    fi
    # Node under SCHED_FIFO on one CPU spins at 95 % and never answers
    # (one of its threads waits for another that cannot run), so Portkey
    # always runs under the default policy.
    saved_rt=$rt
    rt=
    start portkey "$gw_cpu" node "$pk_main" --port=0 --headless
    rt=$saved_rt
    pk_pid=$srv_pid
    # It prints "localhost:0" for port 0: ask the kernel for its port.
    pport=
    i=0
    while [ -z "$pport" ] && [ $i -lt 300 ]; do
        pport=$(ss -ltnpH 2>/dev/null | grep "pid=$pk_pid," |
                sed -n 's/.*:\([0-9][0-9]*\) .*/\1/p' | head -n 1)
        [ -n "$pport" ] || sleep 0.1
        i=$((i + 1))
    done
    if [ -z "$pport" ]; then
        echo "bench-gateway: portkey did not start:" >&2
        tail -n 5 "$tmp/portkey.err" >&2
        status=1
        return 0
    fi
    sleep 0.5
    idle=$(vm_kb "$pk_pid" VmRSS)
    echo "-- portkey $pk_version on 127.0.0.1:$pport (pid $pk_pid), idle" \
         "RSS $idle kB"
    before=$(mock_total)
    measure portkey "http://127.0.0.1:$pport/v1/chat/completions" \
        "$pk_pid" "$idle" --header "x-portkey-provider: openai" \
        --header "x-portkey-custom-host: http://127.0.0.1:$mport/v1" \
        --header "Authorization: Bearer dummy"
    after=$(mock_total)
    sent=$(grep '"target":"portkey"' "$json" |
           sed -n 's/.*"requests":\([0-9]*\).*"warmup":\([0-9]*\).*/\1 \2/p' |
           awk '{s += $1 + $2} END {print s + 0}')
    echo "   the mock answered $((after - before)) requests during the" \
         "portkey runs ($sent sent through it, warm-ups included)"
    stop "$pk_pid"
}
portkey

echo
"$gen" report "$json" || status=1
exit $status
