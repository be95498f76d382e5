/*
 * cmd_chat.c - `llmroute chat`: one prompt through the router.
 *
 * Plain output is the answer text (streamed as it arrives with --stream);
 * failures go to stderr as "llmroute: CLASS: message" with the attempt
 * trail.  --json prints exactly one object, the library's response JSON
 * (with --stream the upstream call is streamed but only the final object
 * is printed).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "llmroute.h"

struct chat_opts {
    const char *conf, *user, *system, *target, *prompt_arg, *messages;
    const char *conversation, *tier;
    int json, stream, no_cache;
    int64_t max_tokens, timeout_ms;
    double temperature;
    int has_temperature;
};

static int parse_i64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno || v < 0)
        return -1;
    *out = v;
    return 0;
}

static int parse_opts(int argc, char **argv, struct chat_opts *o)
{
    static const struct option longs[] = {
        {"config", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},
        {"stream", no_argument, NULL, 's'},
        {"user", required_argument, NULL, 'u'},
        {"system", required_argument, NULL, 'S'},
        {"max-tokens", required_argument, NULL, 'm'},
        {"temperature", required_argument, NULL, 't'},
        {"target", required_argument, NULL, 'T'},
        {"timeout-ms", required_argument, NULL, 'o'},
        {"messages", required_argument, NULL, 'M'},
        {"conversation", required_argument, NULL, 'C'},
        {"tier", required_argument, NULL, 'R'},
        {"no-cache", no_argument, NULL, 'N'},
        {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:", longs, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'c': o->conf = optarg; break;
        case 'j': o->json = 1; break;
        case 's': o->stream = 1; break;
        case 'u': o->user = optarg; break;
        case 'S': o->system = optarg; break;
        case 'T': o->target = optarg; break;
        case 'M': o->messages = optarg; break;
        case 'C': o->conversation = optarg; break;
        case 'N': o->no_cache = 1; break;
        case 'R':
            if (strcmp(optarg, "simple") && strcmp(optarg, "medium") &&
                strcmp(optarg, "complex"))
                return usage_error("--tier wants simple, medium or "
                                   "complex, got '%s'", optarg);
            o->tier = optarg;
            break;
        case 'm':
            if (parse_i64(optarg, &o->max_tokens) || o->max_tokens == 0)
                return usage_error("--max-tokens wants a positive whole "
                                   "number, got '%s'", optarg);
            break;
        case 'o':
            if (parse_i64(optarg, &o->timeout_ms) || o->timeout_ms == 0)
                return usage_error("--timeout-ms wants a positive whole "
                                   "number, got '%s'", optarg);
            break;
        case 't':
            o->temperature = strtod(optarg, &end);
            if (end == optarg || *end)
                return usage_error("--temperature wants a number, got "
                                   "'%s'", optarg);
            o->has_temperature = 1;
            break;
        default:
            return usage_error("chat: see llmroute --help");
        }
    }
    if (!o->conf)
        return usage_error("chat: -c CONF is required");
    if (optind + 1 < argc)
        return usage_error("chat: one PROMPT at most (quote it)");
    if (o->messages && optind < argc)
        return usage_error("chat: give PROMPT or --messages, not both");
    o->prompt_arg = optind < argc ? argv[optind] : "-";
    return 0;
}

static int build_request(const struct chat_opts *o, const char *prompt,
                         struct lr_request *req)
{
    int rc = prompt ? lr_request_set_prompt(req, prompt) : 0;
    if (!rc && o->system)
        rc = lr_request_set_system(req, o->system);
    if (!rc && o->user)
        rc = lr_request_set_user(req, o->user);
    if (!rc && o->max_tokens)
        rc = lr_request_set_max_tokens(req, o->max_tokens);
    if (!rc && o->has_temperature)
        rc = lr_request_set_temperature(req, o->temperature);
    if (!rc && o->target)
        rc = lr_request_set_target(req, o->target);
    if (!rc && o->timeout_ms)
        rc = lr_request_set_timeout_ms(req, o->timeout_ms);
    if (!rc && o->conversation)
        rc = lr_request_set_conversation(req, o->conversation);
    if (!rc && o->tier)
        rc = lr_request_set_attr(req, "tier_want", o->tier);
    if (!rc && o->no_cache)
        rc = lr_request_set_cache_bypass(req, 1);
    if (rc)
        return usage_error("chat: bad request option: %s",
                           lr_strerror((enum lr_status)rc));
    return 0;
}

static int print_delta(const char *text, size_t len, void *user)
{
    (void)user;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return 0;
}

static int ignore_delta(const char *text, size_t len, void *user)
{
    (void)text;
    (void)len;
    (void)user;
    return 0;
}

/* One line per attempt; ", fallback: WHY" when the next target was
   tried because of it (the JSON trail's fallback_reason). */
static void print_trail(const struct lr_response *resp)
{
    for (size_t i = 0; i < lr_response_attempt_count(resp); i++) {
        struct lr_attempt_info a;
        lr_response_attempt(resp, i, &a);
        if (a.skipped)
            fprintf(stderr, "  attempt %zu: %s skipped (%s)", i + 1,
                    a.target, a.skipped);
        else
            fprintf(stderr, "  attempt %zu: %s -> %s (HTTP %ld, %" PRId64
                    " ms)", i + 1, a.target, lr_status_name(a.error),
                    a.http_status, a.latency_ms);
        if (a.fallback_reason)
            fprintf(stderr, ", fallback: %s", a.fallback_reason);
        fputc('\n', stderr);
    }
}

/* A request that failed without a single attempt was turned away by a
   policy's on_request (budget, local limit, a guard): exit 4. */
static int exit_code(const struct lr_response *resp)
{
    enum lr_status st = lr_response_status(resp);
    if (st == LR_OK)
        return EXIT_OK;
    if (st == LR_E_INVALID_ARG)
        return EXIT_USAGE;
    if (st == LR_E_BUDGET_EXCEEDED || st == LR_E_RATE_LIMITED_LOCAL ||
        lr_response_attempt_count(resp) == 0)
        return EXIT_REJECTED;
    return EXIT_FAILED;
}

static int report(const struct chat_opts *o, struct lr_response *resp)
{
    enum lr_status st = lr_response_status(resp);
    if (o->json) {
        char *j = lr_response_json(resp);
        if (j)
            puts(j);
        lr_free(j);
    }
    else if (st == LR_OK) {
        if (!o->stream)
            fputs(lr_response_text(resp), stdout);
        putchar('\n');
    }
    else {
        if (o->stream)
            putchar('\n');
        fprintf(stderr, "llmroute: %s: %s\n", lr_status_name(st),
                lr_response_error_message(resp));
        print_trail(resp);
    }
    return exit_code(resp);
}

static char *load_prompt(const char *arg)
{
    if (strcmp(arg, "-") != 0)
        return strdup(arg);
    char *p = read_all(stdin);
    size_t n = p ? strlen(p) : 0;
    while (n && (p[n - 1] == '\n' || p[n - 1] == '\r'))
        p[--n] = '\0';
    return p;
}

int cmd_chat(int argc, char **argv)
{
    struct chat_opts o = {0};
    int rc = parse_opts(argc, argv, &o);
    if (rc)
        return rc;
    char *prompt = o.messages ? NULL : load_prompt(o.prompt_arg);
    if (!o.messages && (!prompt || !*prompt)) {
        free(prompt);
        return usage_error("chat: empty prompt");
    }
    struct lr_request *req = lr_request_new();
    rc = req ? 0 : EXIT_USAGE;
    if (!rc && o.messages)
        rc = load_messages(req, o.messages);
    if (!rc)
        rc = build_request(&o, prompt, req);
    free(prompt);
    char err[1024];
    struct lr_router *r = rc ? NULL : lr_open(o.conf, err, sizeof err);
    if (!rc && !r)
        rc = usage_error("%s", err);
    if (rc) {
        lr_request_free(req);
        return rc;
    }
    struct lr_response *resp = NULL;
    if (o.stream && !o.json)
        lr_stream(r, req, print_delta, NULL, &resp);
    else if (o.stream)
        lr_stream(r, req, ignore_delta, NULL, &resp);
    else
        lr_complete(r, req, &resp);
    rc = resp ? report(&o, resp) : usage_error("out of memory");
    lr_response_free(resp);
    lr_request_free(req);
    lr_close(r);
    return rc;
}
