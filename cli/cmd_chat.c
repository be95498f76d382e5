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
    const char *conversation, *tier, *format;
    int json, stream, no_cache;
    int64_t max_tokens, timeout_ms, seed;
    double temperature, top_p, presence, frequency;
    int has_temperature, has_top_p, has_seed, has_presence, has_frequency;
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

/* A number for flag into *out, *has set; 0 or the usage error. */
static int parse_num(const char *flag, const char *s, double *out, int *has)
{
    char *end;
    *out = strtod(s, &end);
    if (end == s || *end)
        return usage_error("%s wants a number, got '%s'", flag, s);
    *has = 1;
    return 0;
}

/* Long-only flags: values above any character, so they never meet
   getopt's own returns. */
enum {
    OPT_TOP_P = 256, OPT_SEED, OPT_PRESENCE, OPT_FREQUENCY, OPT_FORMAT
};

/* The sampling hints and the format (ranges are checked later, by the
   library's setters): 0, a usage error, or -1 when c is none of them. */
static int parse_sampling(int c, const char *arg, struct chat_opts *o)
{
    char *end;
    switch (c) {
    case OPT_TOP_P: return parse_num("--top-p", arg, &o->top_p, &o->has_top_p);
    case OPT_PRESENCE:
        return parse_num("--presence-penalty", arg, &o->presence,
                         &o->has_presence);
    case OPT_FREQUENCY:
        return parse_num("--frequency-penalty", arg, &o->frequency,
                         &o->has_frequency);
    case OPT_SEED:
        errno = 0;
        o->seed = strtoll(arg, &end, 10);
        if (end == arg || *end || errno)
            return usage_error("--seed wants a whole number, got '%s'", arg);
        o->has_seed = 1;
        return 0;
    case OPT_FORMAT: o->format = arg; return 0;
    default: return -1;
    }
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
        {"top-p", required_argument, NULL, OPT_TOP_P},
        {"seed", required_argument, NULL, OPT_SEED},
        {"presence-penalty", required_argument, NULL, OPT_PRESENCE},
        {"frequency-penalty", required_argument, NULL, OPT_FREQUENCY},
        {"response-format", required_argument, NULL, OPT_FORMAT},
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
        default: {
            int rc = parse_sampling(c, optarg, o);
            if (rc >= 0) {
                if (rc)
                    return rc;
                break;
            }
            return usage_error("chat: see llmroute --help");
        }
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

/* --response-format: JSON, or a bare type name (text, json_object)
   as shorthand for {"type":NAME}. */
static int set_format(struct lr_request *req, const char *arg)
{
    char json[64];
    size_t n = strlen(arg);
    if (n && n < 32 && strspn(arg, "abcdefghijklmnopqrstuvwxyz_") == n) {
        snprintf(json, sizeof json, "{\"type\":\"%s\"}", arg);
        arg = json;
    }
    return lr_request_set_response_format_json(req, arg);
}

/* The hints and the format, each refused naming its flag and range (the
   library checks them: lr_request_set_*). */
static int set_sampling(const struct chat_opts *o, struct lr_request *req)
{
    if (o->has_top_p && lr_request_set_top_p(req, o->top_p))
        return usage_error("--top-p wants a number above 0 and at most 1, "
                           "got %g", o->top_p);
    if (o->has_presence && lr_request_set_presence_penalty(req,
                                                           o->presence))
        return usage_error("--presence-penalty wants a number from -2 to 2, "
                           "got %g", o->presence);
    if (o->has_frequency && lr_request_set_frequency_penalty(req,
                                                             o->frequency))
        return usage_error("--frequency-penalty wants a number from -2 to "
                           "2, got %g", o->frequency);
    if (o->has_seed && lr_request_set_seed(req, o->seed))
        return usage_error("--seed: %s", lr_strerror(LR_E_INVALID_ARG));
    if (o->format && set_format(req, o->format))
        return usage_error("--response-format wants text, json_object or "
                           "OpenAI's response_format JSON ({\"type\":"
                           "\"json_schema\",\"json_schema\":{\"name\":"
                           "NAME,\"schema\":{...}}}, NAME 1 to 64 of "
                           "A-Z a-z 0-9 _ -), got '%s'", o->format);
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
    return set_sampling(o, req);
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
