#!/bin/sh
# serve_openai_client.sh BASE_URL KEY - run the official `openai` npm
# package against a running `llmroute serve` (tests/unit/test_serve.c
# starts the gateway and calls this).  The package is installed into a
# scratch folder each time.  Exit 0: every check passed; 77: skipped
# because node/npm is missing or the npm registry cannot be reached (said
# on stderr); anything else: failure.
set -u
BASE_URL=$1
KEY=$2
HERE=$(cd "$(dirname "$0")" && pwd)
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "serve_openai_client: node/npm not installed: skipped" >&2
    exit 77
fi
DIR=$(mktemp -d "${TMPDIR:-/tmp}/llmroute-openai-XXXXXX") || exit 1
trap 'rm -rf "$DIR"' EXIT INT TERM
cd "$DIR" || exit 1
printf '{"name":"llmroute-openai-check","private":true,"type":"module"}\n' \
    > package.json
if ! timeout 300 npm install --silent --no-audit --no-fund --loglevel=error \
        openai >npm.log 2>&1; then
    if ! timeout 60 npm ping >/dev/null 2>&1; then
        echo "serve_openai_client: npm registry unreachable: skipped" >&2
        exit 77
    fi
    echo "serve_openai_client: npm install openai failed:" >&2
    cat npm.log >&2
    exit 1
fi
cp "$HERE/serve_openai_client.mjs" client.mjs || exit 1
LLMROUTE_BASE_URL=$BASE_URL LLMROUTE_KEY=$KEY timeout 120 node client.mjs
