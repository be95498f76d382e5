#!/bin/sh
# Fuzz targets' seeds, runs and replays (see docs/reliability.md).
#
#   fuzz.sh seeds  BUILD NAME...          seed corpora BUILD/corpus-NAME
#   fuzz.sh run    BUILD SECONDS NAME...  libFuzzer, each target SECONDS
#                                         (FUZZ_SEED=N: libFuzzer's -seed,
#                                         so a run can be repeated exactly)
#   fuzz.sh replay BUILD NAME...          replay regressions and seeds
#
# Seeds come from the test fixtures (tests/data/, conf/*.ini) plus a few
# written here; they are copied into the build folder, so a run never
# changes the repository.  A corpus folder that already exists keeps what
# earlier runs found.  run fails if any target crashed, leaked, hung or
# tripped UBSan; the input is saved as BUILD/crashes/NAME/crash-* (move
# it to tests/data/fuzz-regressions/NAME/ with the fix).
set -eu
cd "$(dirname "$0")/.."

mode=$1
B=$2
shift 2

seed() { # seed DIR NAME: stdin into DIR/NAME
    cat > "$1/$2"
}

status_of() { # err_429_rate_limit.json -> 429, anything without one 200
    s=$(basename "$1" | grep -o '[0-9][0-9][0-9]' | head -1 || true)
    echo "${s:-200}"
}

# Extra headers the provider reads (rate limits, request ids, dates).
hdrs_openai='x-request-id: req_1
x-ratelimit-remaining-requests: 0
x-ratelimit-remaining-tokens: 1500
x-ratelimit-reset-requests: 1s
x-ratelimit-reset-tokens: 1m12.5s'
hdrs_anthropic='request-id: req_1
date: Sat, 14 Mar 2026 09:26:18 GMT
anthropic-ratelimit-requests-remaining: 0
anthropic-ratelimit-requests-reset: 2026-03-14T09:26:20Z
anthropic-ratelimit-tokens-remaining: 3900
anthropic-ratelimit-tokens-reset: 2026-03-14T09:26:24.5Z
anthropic-ratelimit-input-tokens-reset: 2026-03-14T09:27:18Z
retry-after: 2'
hdrs_gemini='x-goog-request-id: r-1'

seeds_provider() { # DIR PROVIDER
    eval "extra=\$hdrs_$2"
    for f in tests/data/"$2"/*; do
        fn=$(basename "$f")
        case "$fn" in
        *.sse)
            { printf 'S 200\ncontent-type: text/event-stream\n\n'
              cat "$f"; } | seed "$1" "$fn" ;;
        *)
            st=$(status_of "$fn")
            { printf 'R %s\n\n' "$st"; cat "$f"; } | seed "$1" "$fn"
            { printf 'R %s\n%s\n\n' "$st" "$extra"; cat "$f"; } |
                seed "$1" "$fn.h" ;;
        esac
    done
}

seeds_ini() {
    for f in conf/*.ini; do
        cp "$f" "$1/"
    done
    printf '\357\273\277[router]\npipeline = a, b\n\n[target x]\n'`
          `'provider = openai\ntimeout_ms = 5\ninput_per_mtok = 0.25\n'`
          `'stream = yes\n' | seed "$1" bom.ini
    printf '[target x]\nmodle = m\n' | seed "$1" typo.ini
    printf '[target x]\nmodel = a\n  more\n' | seed "$1" cont.ini
    printf '[gateway]\nlisten = 127.0.0.1:1\n[client c]\nkey_env = K\n' |
        seed "$1" front.ini
    printf '; c\n# c\n[policy p]\npipeline = ,x\ntimeout_ms = 9e9\n' |
        seed "$1" bad.ini
}

seeds_sse() {
    for f in tests/data/*/*.sse; do
        p=$(basename "$(dirname "$f")")
        { printf '\200\041'; cat "$f"; } | seed "$1" "$p-$(basename "$f")"
    done
    printf '\010\003data: 123456789\r\n\r\nevent: e\rdata\r\r' |
        seed "$1" small-max
    printf '\200\000: c\nid: 1\nretry: 5\ndata:x\ndata: y\n\nevent: z\n' |
        seed "$1" fields
}

seeds_retry_hint() {
    i=0
    for v in 20ms 1s 1.45s 6m0s 1m12.5s 1h2m3s 500us 500µs 10ns 0.250s \
             37s 120 1.5 ' 7 ' -1 2026-03-14T09:26:20Z \
             2026-03-14T09:26:18.5+01:00 'Sun, 06 Nov 1994 08:49:37 GMT' \
             'Sat, 14 Mar 2026 09:26:25 GMT' soon 9999999999999s \
             1500.5 0.001 ' 20' 9999999999.9 1e3 1e-400 0x1p4 inf nan \
             '20 ' -0 1e10; do
        i=$((i + 1))
        printf '%s' "$v" | seed "$1" "v$i"
    done
}

seeds_serve_request() {
    m='"messages":[{"role":"user","content":"hi"}]'
    printf '{"model":"gpt-mini",%s}' "$m" | seed "$1" plain.json
    printf '{"model":"auto","stream":true,"stream_options":'`
          `'{"include_usage":true},%s,"max_tokens":50,"temperature":0.2,'`
          `'"stop":["a","b"],"user":"u1","n":1}' "$m" | seed "$1" opts.json
    printf '{"model":"simple","max_completion_tokens":9,"stop":"x",'`
          `'"messages":[{"role":"system","content":"s"},{"role":"developer",'`
          `'"content":[{"type":"text","text":"a"},{"text":"b"}]},'`
          `'{"role":"user","content":"q"},{"role":"assistant","content":'`
          `'null,"tool_calls":[{"id":"c1","type":"function","function":'`
          `'{"name":"f","arguments":"{}"}}]},{"role":"tool",'`
          `'"tool_call_id":"c1","name":"f","content":"42"}],"tools":[{'`
          `'"type":"function","function":{"name":"f","parameters":{}}}],'`
          `'"tool_choice":"auto"}' | seed "$1" tools.json
    printf '{"model":"flash",%s,"top_p":0.9,"seed":-42,'`
          `'"presence_penalty":0.5,"frequency_penalty":-2,'`
          `'"response_format":{"type":"json_schema","json_schema":{"name":'`
          `'"a_1","strict":true,"schema":{"type":"object"}}}}' "$m" |
        seed "$1" sampling.json
    printf '{"model":"auto",%s,"top_p":null,"seed":1e300,'`
          `'"response_format":{"type":"json_object"}}' "$m" |
        seed "$1" sampling-bad.json
    printf '{"model":"nope",%s}' "$m" | seed "$1" unknown.json
    printf '{"model":"flash","messages":[]}' | seed "$1" empty.json
}

# fuzz_build.c's format: a flags byte, then TAG VALUE fields, NUL-ended.
seeds_build() {
    printf '\0001Hello' | seed "$1" plain
    printf '\000sAnswer tersely.\0001A prime above 90?\0002"97."\000'`
          `'1Another? \303\251\n\000M300\000t0.7\000xEND\000x###\000'`
          `'uuser-1' | seed "$1" turns
    printf '\001T[{"type":"function","function":{"name":"get_weather",'`
          `'"parameters":{"type":"object","properties":{"city":{"type":'`
          `'"string"}}}}}]\000Cauto\0001Weather in Paris?\0002\000N\000'`
          `'c[{"id":"call_1","type":"function","function":{"name":'`
          `'"get_weather","arguments":"{\\"city\\":\\"Paris\\"}"}}]\000'`
          `'3{"temp":21}\000icall_1\000nget_weather' | seed "$1" tools
    printf '\002p0.9\000S-42\000r0.5\000f-2\000M50\000t0\000'`
          `'F{"type":"json_schema","json_schema":{"name":"a_1","strict":'`
          `'true,"schema":{"type":"object"}}}\0001Give JSON' |
        seed "$1" sampling
    printf '\005F{"type":"json_object"}\000S9223372036854775807\000'`
          `'M9223372036854775807\000t1e-320\000p0x1p-1074\0001x' |
        seed "$1" sampling-edge
    printf '\000tnan\000pinf\000r1e999\000f-0\0001x' |
        seed "$1" nonfinite
    printf '\000t#\377\377\377\377\377\377\367\177S#\000\000\000'`
          `'\000\000\000\000\2001x' | seed "$1" raw-numbers
    printf '\010s\355\240\200\0001\377\376 \300\200 \364\220\200\200'`
          `'\000x\342\202\000u\001\037' | seed "$1" bad-utf8
    printf '\000T{"not":"an array"}\000C[1]\0007who\0002\000N\000'`
          `'c[{"id":' | seed "$1" bad-json
    printf '\000oorg\nX-Evil: 1\000jp\rq\000banthropic-beta: x\n'`
          `'\000v2023-06-01\000g../v1\000mmodels/gemini-2.5-flash\000'`
          `'1Hi' | seed "$1" config-inject
    printf '\001hapi-key\000Bhttps://r.openai.azure.com/openai/v1?x=1\000'`
          `'k9\000mgpt-4o\0001Hi' | seed "$1" azure
    printf '\020mgpt-4o\0001Hi' | seed "$1" nokey
    printf '\040t0.7\000p0.25\000r-1.5\000F{"type":"json_object"}\000'`
          `'T[{"type":"function","function":{"name":"f","parameters":{'`
          `'"minimum":0.5}}}]\0001Hi' | seed "$1" comma-locale
}

seeds() { # BUILD NAME
    d=$1/corpus-$2
    mkdir -p "$d"
    case "$2" in
    openai|anthropic|gemini) seeds_provider "$d" "$2" ;;
    *) "seeds_$2" "$d" ;;
    esac
}

case "$mode" in
seeds)
    for n in "$@"; do seeds "$B" "$n"; done
    ;;
replay)
    bad=""
    for n in "$@"; do
        rm -rf "$B/fuzz-seeds"
        seeds "$B/fuzz-seeds" "$n"
        set -- "$B"/fuzz-seeds/corpus-"$n"/*
        if [ -d "tests/data/fuzz-regressions/$n" ]; then
            set -- "$@" "tests/data/fuzz-regressions/$n"/*
        fi
        printf 'fuzz replay %-14s ' "$n"
        "$B/fuzz-replay/fuzz_$n" "$@" || bad="$bad $n"
    done
    rm -rf "$B/fuzz-seeds"
    [ -z "$bad" ] || { echo "fuzz replay FAILED:$bad" >&2; exit 1; }
    ;;
run)
    secs=$1
    shift
    bad=""
    for n in "$@"; do
        seeds "$B" "$n"
        mkdir -p "$B/crashes/$n"
        log=$B/fuzz-$n.log
        echo "fuzz $n: ${secs}s (log $log)"
        if "$B/fuzzers/fuzz_$n" -max_total_time="$secs" -timeout=10 \
               ${FUZZ_SEED:+-seed=$FUZZ_SEED} \
               -rss_limit_mb=2048 -print_final_stats=1 \
               -artifact_prefix="$B/crashes/$n/" "$B/corpus-$n" \
               > "$log" 2>&1; then
            execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
            rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
            cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
            echo "fuzz $n: ok, $execs runs, $rate/s, $cov"
        else
            tail -40 "$log" >&2
            bad="$bad $n"
        fi
    done
    nbad=$(echo $bad | wc -w)
    echo "fuzz: $(($# - nbad)) passed, $nbad failed"
    [ -z "$bad" ] || { echo "fuzz FAILED:$bad (inputs in $B/crashes/)" >&2
                       exit 1; }
    ;;
*)
    echo "usage: fuzz.sh seeds|run|replay BUILD ..." >&2
    exit 2
    ;;
esac
