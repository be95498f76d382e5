/*
 * cmd_classify.c - `llmroute classify`: how the routing policy would
 * classify prompts, without sending anything.
 *
 *   llmroute classify -c CONF [--json] [--conversation ID] [PROMPT | -]
 *       one prompt (stdin when PROMPT is - or absent): tier, score and
 *       features, as text or as one JSON object.
 *   llmroute classify -c CONF --in FILE.jsonl
 *       lines {"id", "prompt"} in, one JSON line out per line in:
 *       {"id", "tier", "score", "features": {...}, ...}.  A bad line gives
 *       {"id", "error"} (and FILE:LINE on stderr), the rest go on, and
 *       the exit code is 2.
 *   llmroute classify -c CONF --calibrate SAMPLE.jsonl
 *           [--premium-share 0.1] [--medium-share 0.3] [--json]
 *       scores every prompt of the sample and prints the INI lines
 *       (medium_above, complex_above) that put those shares of it in the
 *       complex and medium tiers, with the tier counts they give.
 *
 * The answer comes from lr_classify_json() (public API only), which asks
 * the pipeline's routing policy (the complexity router).  Exit codes: 0
 * ok, 2 usage, config or input error.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "llmroute.h"

struct classify_opts {
    const char *conf, *in, *calibrate, *conversation, *prompt_arg;
    int json;
    double premium, medium;
};

static const char usage_line[] =
    "classify: usage: llmroute classify -c CONF [--json] "
    "[--conversation ID] [PROMPT | -]\n"
    "       llmroute classify -c CONF --in FILE.jsonl\n"
    "       llmroute classify -c CONF --calibrate SAMPLE.jsonl "
    "[--premium-share 0.1] [--medium-share 0.3] [--json]";

static int parse_share(const char *opt, const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !(v >= 0 && v <= 1))
        return usage_error("%s wants a share from 0 to 1, got '%s'", opt,
                           s);
    *out = v;
    return 0;
}

static int parse_opts(int argc, char **argv, struct classify_opts *o)
{
    static const struct option longs[] = {
        {"config", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},
        {"in", required_argument, NULL, 'i'},
        {"calibrate", required_argument, NULL, 'C'},
        {"premium-share", required_argument, NULL, 'p'},
        {"medium-share", required_argument, NULL, 'm'},
        {"conversation", required_argument, NULL, 'v'},
        {NULL, 0, NULL, 0}};
    int c, rc = 0;
    optind = 1;
    while (rc == 0 && (c = getopt_long(argc, argv, "c:", longs, NULL)) != -1) {
        switch (c) {
        case 'c': o->conf = optarg; break;
        case 'j': o->json = 1; break;
        case 'i': o->in = optarg; break;
        case 'C': o->calibrate = optarg; break;
        case 'v': o->conversation = optarg; break;
        case 'p': rc = parse_share("--premium-share", optarg, &o->premium);
                  break;
        case 'm': rc = parse_share("--medium-share", optarg, &o->medium);
                  break;
        default: return usage_error("%s", usage_line);
        }
    }
    if (rc)
        return rc;
    if (optind < argc)
        o->prompt_arg = argv[optind++];
    if (!o->conf || optind < argc || (o->in && o->calibrate) ||
        ((o->in || o->calibrate) && (o->prompt_arg || o->conversation)))
        return usage_error("%s", usage_line);
    if (o->premium + o->medium > 1)
        return usage_error("--premium-share + --medium-share is above 1 "
                           "(%g + %g)", o->premium, o->medium);
    return 0;
}

/* The policy's answer for one prompt, parsed; NULL with err filled. */
static cJSON *classify(struct lr_router *r, const char *prompt,
                       const char *conversation, char *err, size_t errlen)
{
    struct lr_request *req = lr_request_new();
    cJSON *j = NULL;
    char *text = NULL;
    if (!req || lr_request_set_prompt(req, prompt) != LR_OK ||
        (conversation &&
         lr_request_set_conversation(req, conversation) != LR_OK))
        snprintf(err, errlen, "out of memory or bad prompt");
    else if ((text = lr_classify_json(r, req, err, errlen)) != NULL &&
             !(j = cJSON_Parse(text)))
        snprintf(err, errlen, "the policy's answer is not JSON");
    lr_free(text);
    lr_request_free(req);
    return j;
}

static void print_object(const cJSON *o, const char *title)
{
    const cJSON *kv;
    if (!cJSON_IsObject(o))
        return;
    printf("%s:\n", title);
    cJSON_ArrayForEach(kv, o)
        if (cJSON_IsNumber(kv))
            printf("  %-14s %g\n", kv->string, kv->valuedouble);
}

static void print_human(const cJSON *j)
{
    const cJSON *tier = cJSON_GetObjectItemCaseSensitive(j, "tier");
    const cJSON *score = cJSON_GetObjectItemCaseSensitive(j, "score");
    const cJSON *why = cJSON_GetObjectItemCaseSensitive(j, "reason");
    printf("tier: %s\n", cJSON_IsString(tier) ? tier->valuestring : "?");
    if (cJSON_IsNumber(score))
        printf("score: %.4f\n", score->valuedouble);
    if (cJSON_IsString(why))
        printf("reason: %s\n", why->valuestring);
    print_object(cJSON_GetObjectItemCaseSensitive(j, "features"),
                 "features");
    print_object(cJSON_GetObjectItemCaseSensitive(j, "parts"),
                 "score parts");
}

static int print_json(const cJSON *j)
{
    char *s = cJSON_PrintUnformatted(j);
    if (!s)
        return usage_error("classify: out of memory");
    puts(s);
    free(s);
    return EXIT_OK;
}

static int run_one(struct lr_router *r, const struct classify_opts *o)
{
    char err[1024] = "", *owned = NULL;
    const char *prompt = o->prompt_arg;
    if (!prompt || strcmp(prompt, "-") == 0) {
        owned = read_all(stdin);
        if (!owned)
            return usage_error("classify: cannot read stdin");
        prompt = owned;
    }
    cJSON *j = classify(r, prompt, o->conversation, err, sizeof err);
    free(owned);
    if (!j)
        return usage_error("classify: %s", err);
    int rc = EXIT_OK;
    if (o->json)
        rc = print_json(j);
    else
        print_human(j);
    cJSON_Delete(j);
    return rc;
}

/* --- JSONL input -------------------------------------------------------- */

/* One line of FILE.jsonl parsed (NULL when not JSON), its id (may be
   NULL) and prompt; *prompt NULL with why set when the line is not
   usable.  A blank line: *blank = 1. */
static cJSON *read_line(const char *line, const cJSON **id,
                        const char **prompt, int *blank, const char **why)
{
    const char *p = line;
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    *blank = *p == '\0';
    if (*blank)
        return NULL;
    cJSON *o = cJSON_Parse(p);
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(o, "prompt");
    *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    if (!cJSON_IsObject(o))
        *why = "not a JSON object";
    else if (!cJSON_IsString(pr))
        *why = "no \"prompt\" string";
    else
        *prompt = pr->valuestring;
    return o;
}

static FILE *open_in(const char *path)
{
    FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!fp)
        usage_error("classify: cannot read %s: %s", path, strerror(errno));
    return fp;
}

/* {"id"?, then the policy's keys}, or {"id"?, "error"}. */
static int emit(const cJSON *id, cJSON *res, const char *error)
{
    cJSON *out = cJSON_CreateObject();
    if (id)
        cJSON_AddItemToObject(out, "id", cJSON_Duplicate(id, 1));
    if (res) {
        const cJSON *kv;
        cJSON_ArrayForEach(kv, res)
            cJSON_AddItemToObject(out, kv->string, cJSON_Duplicate(kv, 1));
    }
    else
        cJSON_AddStringToObject(out, "error", error);
    int rc = print_json(out);
    cJSON_Delete(out);
    return rc;
}

static int run_in(struct lr_router *r, const char *path)
{
    FILE *fp = open_in(path);
    char *line = NULL;
    size_t cap = 0;
    int rc = EXIT_OK;
    if (!fp)
        return EXIT_USAGE;
    for (long no = 1; getline(&line, &cap, fp) >= 0; no++) {
        const cJSON *id = NULL;
        const char *prompt = NULL, *why = NULL;
        char err[1024] = "";
        int blank = 0;
        cJSON *o = read_line(line, &id, &prompt, &blank, &why);
        if (blank)
            continue;
        cJSON *res = prompt ? classify(r, prompt, NULL, err, sizeof err)
                            : NULL;
        if (!res) {
            why = why ? why : err;
            fprintf(stderr, "llmroute: %s:%ld: %s\n", path, no, why);
            rc = EXIT_USAGE;
        }
        if (emit(id, res, why) != EXIT_OK)
            rc = EXIT_USAGE;
        cJSON_Delete(res);
        cJSON_Delete(o);
    }
    free(line);
    if (fp != stdin)
        fclose(fp);
    return rc;
}

/* --- Calibration -------------------------------------------------------- */

struct scores {
    double *v;
    size_t n, cap;
};

static int push(struct scores *s, double v)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        double *nv = realloc(s->v, cap * sizeof *nv);
        if (!nv)
            return -1;
        s->v = nv;
        s->cap = cap;
    }
    s->v[s->n++] = v;
    return 0;
}

/* Scores of every prompt in path; EXIT_OK or an exit code (printed). */
static int score_sample(struct lr_router *r, const char *path,
                        struct scores *s)
{
    FILE *fp = open_in(path);
    char *line = NULL;
    size_t cap = 0;
    int rc = EXIT_OK;
    if (!fp)
        return EXIT_USAGE;
    for (long no = 1; rc == EXIT_OK && getline(&line, &cap, fp) >= 0; no++) {
        const cJSON *id = NULL, *score = NULL;
        const char *prompt = NULL, *why = NULL;
        char err[1024] = "";
        int blank = 0;
        cJSON *o = read_line(line, &id, &prompt, &blank, &why);
        if (blank)
            continue;
        cJSON *res = prompt ? classify(r, prompt, NULL, err, sizeof err)
                            : NULL;
        score = cJSON_GetObjectItemCaseSensitive(res, "score");
        if (!cJSON_IsNumber(score))
            rc = usage_error("%s:%ld: %s", path, no,
                             why ? why : err[0] ? err : "no score");
        else if (push(s, score->valuedouble) != 0)
            rc = usage_error("classify: out of memory");
        cJSON_Delete(res);
        cJSON_Delete(o);
    }
    free(line);
    if (fp != stdin)
        fclose(fp);
    if (rc == EXIT_OK && s->n == 0)
        rc = usage_error("classify: %s holds no prompt", path);
    return rc;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A cut-off with `above` of the n sorted scores strictly above it:
   halfway between neighbours, so the printed value is stable.  Ties can
   make the share inexact; the counts printed say what it gives. */
static double cut(const double *v, size_t n, size_t above)
{
    if (above == 0)
        return v[n - 1];
    if (above >= n)
        return v[0] - 1;
    return (v[n - above - 1] + v[n - above]) / 2;
}

/* Printed with 5 decimals and read back, so the counts are those of the
   lines the user pastes into the INI. */
static double rounded(double x)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.5f", x);
    return strtod(buf, NULL);
}

static int run_calibrate(struct lr_router *r, const struct classify_opts *o)
{
    struct scores s = {0};
    int rc = score_sample(r, o->calibrate, &s);
    if (rc != EXIT_OK) {
        free(s.v);
        return rc;
    }
    qsort(s.v, s.n, sizeof *s.v, by_value);
    /* Rounded to nearest; shares and n are never negative (no libm). */
    size_t k = (size_t)(o->premium * (double)s.n + 0.5);
    size_t m = (size_t)(o->medium * (double)s.n + 0.5);
    m = k + m > s.n ? s.n - k : m;
    double hi = rounded(cut(s.v, s.n, k)), lo = rounded(cut(s.v, s.n, k + m));
    size_t count[3] = {0, 0, 0};
    for (size_t i = 0; i < s.n; i++)
        count[s.v[i] > hi ? 2 : s.v[i] > lo ? 1 : 0]++;
    if (o->json)
        printf("{\"prompts\":%zu,\"premium_share\":%g,\"medium_share\":%g,"
               "\"medium_above\":%.5f,\"complex_above\":%.5f,\"counts\":{"
               "\"simple\":%zu,\"medium\":%zu,\"complex\":%zu}}\n", s.n,
               o->premium, o->medium, lo, hi, count[0], count[1], count[2]);
    else
        printf("# calibrated on %zu prompts of %s: premium share %g, "
               "medium share %g\nmedium_above = %.5f\ncomplex_above = "
               "%.5f\n# tiers with these cut-offs: simple %zu, medium %zu, "
               "complex %zu\n", s.n, o->calibrate, o->premium, o->medium,
               lo, hi, count[0], count[1], count[2]);
    free(s.v);
    return EXIT_OK;
}

int cmd_classify(int argc, char **argv)
{
    struct classify_opts o = {0};
    o.premium = 0.1;
    o.medium = 0.3;
    int rc = parse_opts(argc, argv, &o);
    if (rc)
        return rc;
    char err[1024];
    struct lr_router *r = lr_open(o.conf, err, sizeof err);
    if (!r)
        return usage_error("%s", err);
    if (o.calibrate)
        rc = run_calibrate(r, &o);
    else if (o.in)
        rc = run_in(r, o.in);
    else
        rc = run_one(r, &o);
    lr_close(r);
    return rc;
}
