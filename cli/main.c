/*
 * main.c - `llmroute COMMAND ...`: dispatch to the subcommands.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "llmroute.h"

static const char usage[] =
    "usage: llmroute COMMAND [options]\n"
    "\n"
    "commands:\n"
    "  batch -c CONF --in IN.jsonl --out OUT.jsonl [--concurrency N]\n"
    "       [--timeout-ms N] [--grace-ms N] [--progress-interval-ms N]\n"
    "       [--json-summary]\n"
    "                      one request per input line ({\"id\", \"prompt\" "
    "|\n"
    "                      \"messages\", ...}), one chat --json result per "
    "line;\n"
    "                      resumable: ids already in OUT are skipped\n"
    "  chat -c CONF [--json] [--stream] [--user ID] [--system TEXT]\n"
    "       [--max-tokens N] [--temperature T] [--target NAME]\n"
    "       [--timeout-ms N] [--messages FILE.json] [--conversation ID]\n"
    "       [--tier simple|medium|complex] [--no-cache] [--top-p P]\n"
    "       [--seed N] [--presence-penalty X] [--frequency-penalty X]\n"
    "       [--response-format text|json_object|JSON] [PROMPT | -]\n"
    "                      send one prompt (stdin when PROMPT is - or "
    "absent),\n"
    "                      or a whole OpenAI-style conversation (with "
    "tools)\n"
    "  check -c CONF [--json]\n"
    "                      load everything, print the pipeline and targets\n"
    "  classify -c CONF [--json] [--conversation ID] [PROMPT | -]\n"
    "  classify -c CONF --in FILE.jsonl\n"
    "  classify -c CONF --calibrate SAMPLE.jsonl [--premium-share 0.1]\n"
    "       [--medium-share 0.3] [--json]\n"
    "                      show the routing tier, score and features of "
    "prompts\n"
    "                      (nothing is sent), or calibrate the tier "
    "cut-offs\n"
    "  plugins [-c CONF | --dir DIR] [--json]\n"
    "                      list plugins with kind and ABI version\n"
    "  serve -c CONF [--listen HOST:PORT]\n"
    "                      OpenAI-compatible HTTP gateway (docs/gateway.md)\n"
    "\n"
    "exit codes: 0 ok, 2 usage/config error, 3 request failed, 4 rejected "
    "by a policy\n"
    "            (batch: 0 every line got a result, 1 I/O error on OUT, "
    "130/143\n"
    "            interrupted)\n";

int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("llmroute: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return EXIT_USAGE;
}

char *read_all(FILE *fp)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len - 1, fp);
        len += n;
        if (n == 0)
            break;
        if (len + 1 == cap) {
            char *b = realloc(buf, cap * 2);
            if (!b) {
                free(buf);
                return NULL;
            }
            buf = b;
            cap *= 2;
        }
    }
    if (buf)
        buf[len] = '\0';
    return buf;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "--help") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("llmroute %s\n", LR_VERSION);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "batch") == 0)
        return cmd_batch(argc - 1, argv + 1);
    if (strcmp(argv[1], "chat") == 0)
        return cmd_chat(argc - 1, argv + 1);
    if (strcmp(argv[1], "check") == 0)
        return cmd_check(argc - 1, argv + 1);
    if (strcmp(argv[1], "classify") == 0)
        return cmd_classify(argc - 1, argv + 1);
    if (strcmp(argv[1], "plugins") == 0)
        return cmd_plugins(argc - 1, argv + 1);
    if (strcmp(argv[1], "serve") == 0)
        return cmd_serve(argc - 1, argv + 1);
    fputs(usage, stderr);
    return usage_error("unknown command '%s'", argv[1]);
}
