#!/bin/sh
# demo.sh BUILD_DIR - `make demo`: llmroute falling back between two
# targets, offline, in a few seconds.
#
# Starts BUILD/mock-upstream with conf/demo-mock.json on an ephemeral
# loopback port, writes BUILD/demo/demo.ini from the template
# conf/demo.ini (port and plugin folder filled in), routes the prompts
# below one by one with `BUILD/llmroute chat --json`, and prints for each
# which target answered and the attempt trail, then a summary.  The mock
# always stops on exit (trap).  The JSON is read with scripts/json_flat.awk
# (POSIX awk: no jq or python needed).
#
# The mock's "primary" route answers in a fixed cycle (200, 429 with
# retry-after-ms 300, 200, 500, 200, a 1.5 s answer its 1 s timeout cuts,
# 200), and the successful texts are written for the prompts that meet
# them; the prompt with "password" never reaches it (the guard policy
# refuses it), so it is not counted in the cycle.  BUILD/demo keeps the
# generated INI and each raw JSON answer for a look afterwards.
set -eu

B=${1:-build}
cd "$(dirname "$0")/.."
CLI=$B/llmroute
MOCK=$B/mock-upstream
for f in "$CLI" "$MOCK" "$B/plugins/openai.so" "$B/plugins/prompt_guard.so"
do
    if [ ! -e "$f" ]; then
        echo "demo: $f is missing: run make first" >&2
        exit 1
    fi
done
plugin_dir=$(cd "$B/plugins" && pwd)
work=$B/demo
rm -rf "$work"
mkdir -p "$work"

mock_pid=""
stop_mock() {
    if [ -n "$mock_pid" ]; then
        kill "$mock_pid" 2>/dev/null || true
        wait "$mock_pid" 2>/dev/null || true
        mock_pid=""
    fi
}
trap stop_mock EXIT
trap 'exit 130' INT TERM

fail() {
    echo "demo: $*" >&2
    exit 1
}

# --- The mock: wait (at most 5 s) for its "port=N" line. -----------------
# (sleep 0.1: GNU coreutils and busybox take fractions; POSIX only says
# whole seconds.)
"$MOCK" --script conf/demo-mock.json >"$work/mock.out" 2>"$work/mock.err" &
mock_pid=$!
port=""
tries=0
while [ -z "$port" ] && [ "$tries" -lt 50 ]; do
    port=$(sed -n 's/^port=\([0-9][0-9]*\)$/\1/p' "$work/mock.out")
    [ -n "$port" ] && break
    kill -0 "$mock_pid" 2>/dev/null || break
    sleep 0.1
    tries=$((tries + 1))
done
[ -n "$port" ] || fail "mock-upstream did not start: $(cat "$work/mock.err")"

# --- The runtime INI: the template with its two placeholders filled. -----
sed -e "s|[$]{MOCK_PORT}|$port|g" -e "s|[$]{PLUGIN_DIR}|$plugin_dir|g" \
    conf/demo.ini >"$work/demo.ini"
if grep -q '[$]{' "$work/demo.ini"; then
    fail "placeholder left in $work/demo.ini:" \
        "$(grep '[$]{' "$work/demo.ini")"
fi
"$CLI" check -c "$work/demo.ini" >"$work/check.out" 2>&1 ||
    fail "config does not load: $(cat "$work/check.out")"

echo "llmroute demo: mock upstream on 127.0.0.1:$port"
echo "  targets, in order: primary (model demo-primary), backup (demo-backup)"
echo "  pipeline: guard (prompt_guard: max_chars 2000, deny_words)"
echo "  config: $work/demo.ini (generated from conf/demo.ini)"
echo

# One prompt's JSON, flattened (PATH<TAB>VALUE), to readable lines on
# stdout and one tally line appended to $TALLY:
#   OUTCOME FALLBACKS N429 N5XX NTIMEOUT COST
# OUTCOME is the answering target, "refused" (no attempt: a policy said
# no) or "failed".
# shellcheck disable=SC2016 # awk code, expanded by awk
render='
{ v[$1] = substr($0, length($1) + 2) }
function short(t) { return length(t) > 60 ? substr(t, 1, 57) "..." : t }
END {
    printf "%2d. \"%s\"\n", ENVIRON["N"], ENVIRON["PROMPT"]
    na = v["attempts#"] + 0
    fb = 0; n429 = 0; n5xx = 0; ntmo = 0
    for (i = 0; i < na; i++) {
        p = "attempts." i "."
        t = v[p "target"]; st = v[p "status"] + 0; cls = v[p "error_class"]
        if (v[p "waited_ms"] > 0)
            printf "      %s: waited %d ms (%s)\n", t, v[p "waited_ms"],
                   v[p "wait_reason"]
        if (st == 429) n429++
        if (st >= 500) n5xx++
        if (cls == "timeout") ntmo++
        if (v[p "skipped"] != "null")
            line = t ": skipped (" v[p "skipped"] ")"
        else if (cls == "null")
            continue
        else {
            line = t ": " cls " ("
            if (st)
                line = line "HTTP " st
            else
                line = line "no HTTP response in " v[p "latency_ms"] " ms"
            if (v[p "retry_after_ms"] != "null")
                line = line ", retry in " v[p "retry_after_ms"] " ms"
            line = line ")"
        }
        if ((p "fallback_reason") in v) {
            fb++
            nxt = "attempts." (i + 1) ".target"
            line = line " -> fallback" ((nxt in v) ? " to " v[nxt] : "")
        }
        printf "      %s\n", line
    }
    if ("error.class" in v) {
        outcome = na ? "failed" : "refused"
        printf "    => %s: %s: %s\n", na ? "failed" : "refused before routing",
               v["error.class"], v["error.message"]
    }
    else {
        outcome = v["target"]
        printf "    => %s answered (%d ms in all): \"%s\"\n", v["target"],
               v["latency_ms"], short(v["text"])
    }
    printf "%s %d %d %d %d %s\n", outcome, fb, n429, n5xx, ntmo,
           ("cost_usd" in v) ? v["cost_usd"] : 0 >> ENVIRON["TALLY"]
}'

TALLY=$work/tally
export TALLY
: >"$TALLY"
n=0
while IFS= read -r prompt; do
    n=$((n + 1))
    rc=0
    "$CLI" chat -c "$work/demo.ini" --json "$prompt" >"$work/$n.json" \
        2>"$work/$n.err" </dev/null || rc=$?
    # 0 answered, 3 failed after every attempt, 4 refused by a policy.
    case $rc in
    0 | 3 | 4) ;;
    *) fail "llmroute chat exited $rc: $(cat "$work/$n.err")" ;;
    esac
    awk -f scripts/json_flat.awk "$work/$n.json" >"$work/$n.flat" ||
        fail "unreadable JSON from llmroute chat: $(cat "$work/$n.json")"
    N=$n PROMPT=$prompt awk -F '	' "$render" "$work/$n.flat"
done <<'EOF'
What is the capital of France?
Summarise the plot of Hamlet in one sentence.
Translate 'good morning' into Spanish.
Write a haiku about packet loss.
Here is my password: hunter2. Please keep it safe.
Name three prime numbers.
Explain TCP slow start in one sentence.
How many legs does a spider have?
EOF

echo
awk '
function plural(k, what) { return k " " what (k == 1 ? "" : "s") }
{
    total++; fb += $2; n429 += $3; n5xx += $4; ntmo += $5; cost += $6
    if ($1 == "refused") refused++
    else if ($1 == "failed") failed++
    else {
        answered++
        if (!($1 in by))
            order[++ntargets] = $1
        by[$1]++
    }
}
END {
    per = ""
    for (i = 1; i <= ntargets; i++)
        per = per (i > 1 ? ", " : "") order[i] " " by[order[i]]
    printf "summary: %d of %d prompts answered (%s)", answered, total, per
    if (refused) printf ", %d refused by a policy", refused
    if (failed) printf ", %d failed", failed
    printf "\n         %s; upstream trouble seen: %d x HTTP 429, " \
           "%d x HTTP 5xx, %s\n", plural(fb, "fallback"), n429, n5xx,
           plural(ntmo, "timeout")
    printf "         cost of the answers: $%.6f\n", cost
}' "$TALLY"
