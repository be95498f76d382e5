/*
 * policy_complexity.c - the complexity router: score each prompt from
 * explainable features, pick a tier (simple | medium | complex) and send
 * the request to that tier's targets, with the tiers below as fallback.
 *
 *   [policy complexity]
 *   plugin          = complexity
 *   simple          = gemini-flash        ; targets of each tier, in order
 *   medium          = gpt-mini
 *   complex         = claude-sonnet, gpt-big
 *   fallback_simple =                     ; optional, see "Fallback"
 *   medium_above    = 1.05                ; score > this: at least medium
 *   complex_above   = 2.2                 ; score > this: complex
 *   w_code          = 2.0                 ; a weight, >= 0 (see below)
 *   bias            = 0                   ; added to every score
 *   conversation_ttl_s = 86400            ; how long a conversation's tier
 *                                         ; is remembered
 *
 *   [router]
 *   pipeline = budget, limits, complexity, breaker, retry
 *
 * Score.  The prompt is the last user message (the system prompt is the
 * application's constant boilerplate and says little about this request).
 * complexity_features.h counts what makes a prompt hard for a small model
 * (length, code, stack traces and error wording, math wording and
 * symbols, dense quantities, dense arithmetic wording and unit
 * conversions, dense relations between quantities, multi-step wording and
 * list items, design wording, several questions, earlier turns) and what
 * marks an easy one (chit-chat, lookups, rewriting, extraction).  Each
 * count becomes a saturating or log-scaled signal; score = bias + sum of
 * w_X * signal X, minus w_easy * the easy signal.  Weights and their
 * defaults: w_length 0.5, w_code 2.0, w_error 1.5, w_math 1.5, w_numbers
 * 2.0, w_operations 2.0, w_relations 2.0, w_multistep 1.0, w_design 1.5,
 * w_questions 0.6, w_turns 0.8, w_easy 1.5.  Weights are >= 0 so the
 * score only grows with evidence of difficulty.  The defaults were fixed
 * from general knowledge, the second attempt after seeing only the first
 * one's aggregate result, the third (relations) on the dev half of GSM8K
 * only; docs/policy-complexity.md gives the reasoning.  `llmroute
 * classify` shows features and score.
 *
 * Tier.  score > complex_above: complex; else score > medium_above:
 * medium; else simple.  `llmroute classify --calibrate SAMPLE.jsonl
 * --premium-share 0.1` prints cut-offs that put chosen shares of a
 * traffic sample in each tier.  The order of decisions in route():
 *   1. the request attribute "tier_want" (a tier name) is used as is,
 *      without scoring, and wins over the conversation's tier (the caller
 *      asked explicitly);
 *   2. otherwise the score decides, raised to the conversation's tier;
 *   3. the attribute "tier_cap" lowers the result to at most that tier
 *      (a budget running low), beating stickiness.
 * Invalid attribute values are ignored with one warning per instance.
 *
 * Conversation stickiness.  When the request has a conversation id, the
 * highest tier it reached (before the cap: the cap is a temporary limit
 * on where this request goes, not a verdict on the conversation) is kept
 * in the store at "conv/<id>" with a TTL of conversation_ttl_s, refreshed
 * on every turn; only raised, with a bounded store_cas loop so processes
 * sharing the store never lower it.
 *
 * Fallback.  Candidates are the tier's targets, then its fallback:
 * by default the tiers below (medium -> simple; complex -> medium, then
 * simple; simple -> none).  fallback_simple / fallback_medium /
 * fallback_complex replace that with a list of target names (empty: no
 * fallback).  A target listed twice is tried once, at its first place.
 * Every name must be a [target] section, checked at load.
 *
 * Effects: the request attribute "tier" is set to the chosen tier (the
 * core reports it in the response), counter complexity_tier{tier} counts
 * routed requests, and a DEBUG line gives tier, score and why.  The
 * classify op explains step 2 (score and conversation tier; steps 1 and
 * 3 come from per-request attributes) with no side effect: it reads the
 * configuration and the store only, as it may run on any thread.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "c_locale.h"
#include "complexity_features.h"
#include "llmroute_plugin.h"

enum tier { SIMPLE, MEDIUM, COMPLEX, NTIERS };

static const char *const tier_names[NTIERS] = {"simple", "medium",
                                               "complex"};
static const char *const fallback_keys[NTIERS] = {
    "fallback_simple", "fallback_medium", "fallback_complex"};

/* Weight keys in enum cx_signal order. */
static const char *const weight_keys[CX_N] = {
    "w_length", "w_code", "w_error", "w_math", "w_numbers", "w_operations",
    "w_relations", "w_multistep", "w_design", "w_questions", "w_turns",
    "w_easy"};

static const struct lr_cfg_key keys[] = {
    {"simple", LR_CFG_LIST, NULL, "targets of the simple tier, in order"},
    {"medium", LR_CFG_LIST, NULL, "targets of the medium tier, in order"},
    {"complex", LR_CFG_LIST, NULL, "targets of the complex tier, in order"},
    {"fallback_simple", LR_CFG_LIST, NULL,
     "targets tried after the simple tier's (default: none)"},
    {"fallback_medium", LR_CFG_LIST, NULL,
     "targets tried after the medium tier's (default: simple tier)"},
    {"fallback_complex", LR_CFG_LIST, NULL,
     "targets tried after the complex tier's (default: medium, simple)"},
    {"medium_above", LR_CFG_DOUBLE, "1.05",
     "score above which a prompt is at least medium"},
    {"complex_above", LR_CFG_DOUBLE, "2.2",
     "score above which a prompt is complex"},
    {"w_length", LR_CFG_DOUBLE, "0.5",
     "weight of log2(1 + bytes/200) of the prompt"},
    {"w_code", LR_CFG_DOUBLE, "2.0",
     "weight of code blocks, code lines and programming words"},
    {"w_error", LR_CFG_DOUBLE, "1.5",
     "weight of stack-trace lines and error/debug wording"},
    {"w_math", LR_CFG_DOUBLE, "1.5", "weight of math wording and symbols"},
    {"w_numbers", LR_CFG_DOUBLE, "2.0",
     "weight of the quantities in the prompt, when dense"},
    {"w_operations", LR_CFG_DOUBLE, "2.0",
     "weight of arithmetic wording and unit conversions, when dense"},
    {"w_relations", LR_CFG_DOUBLE, "2.0",
     "weight of quantities given through others (than, twice, half, "
     "3/4, the rest, ago), when dense"},
    {"w_multistep", LR_CFG_DOUBLE, "1.0",
     "weight of multi-step/reasoning wording and list items"},
    {"w_design", LR_CFG_DOUBLE, "1.5",
     "weight of design/architecture wording"},
    {"w_questions", LR_CFG_DOUBLE, "0.6",
     "weight of question marks beyond the first"},
    {"w_turns", LR_CFG_DOUBLE, "0.8",
     "weight of the messages before the prompt"},
    {"w_easy", LR_CFG_DOUBLE, "1.5",
     "weight subtracted for chit-chat, lookup, rewriting wording"},
    {"bias", LR_CFG_DOUBLE, "0", "added to every score"},
    {"conversation_ttl_s", LR_CFG_INT, "86400",
     "seconds a conversation's highest tier is remembered"},
};

struct complexity {
    const struct lr_host *host;
    double w[CX_N], bias, medium_above, complex_above;
    int64_t ttl_ms;
    /* Candidate list of each tier: its targets then its fallback,
       without repeats; names owned. */
    char **cands[NTIERS];
    size_t n_cands[NTIERS];
    int warned_attr;            /* a bad tier_want/tier_cap was logged */
    int warned_store;           /* a store failure was logged */
};

/* How route() or classify decided. */
struct decision {
    struct cx_features f;
    double score, parts[CX_N];
    int scored;                 /* the score was computed */
    int floor;                  /* the conversation's stored tier, or -1 */
    enum tier uncapped, tier;
    const char *why;            /* "score", "tier_want", "conversation",
                                   "tier_cap" */
};

static int tier_of(const char *s)
{
    for (int t = 0; s && t < NTIERS; t++)
        if (strcmp(s, tier_names[t]) == 0)
            return t;
    return -1;
}

/* --- Configuration ----------------------------------------------------- */

static void free_cands(struct complexity *cx)
{
    for (int t = 0; t < NTIERS; t++) {
        for (size_t i = 0; i < cx->n_cands[t]; i++)
            free(cx->cands[t][i]);
        free(cx->cands[t]);
        cx->cands[t] = NULL;
        cx->n_cands[t] = 0;
    }
}

static void destroy(void *inst)
{
    struct complexity *cx = inst;
    if (!cx)
        return;
    free_cands(cx);
    free(cx);
}

/* Append name to tier t's candidates unless already there; -1 on OOM. */
static int add_cand(struct complexity *cx, int t, const char *name)
{
    for (size_t i = 0; i < cx->n_cands[t]; i++)
        if (strcmp(cx->cands[t][i], name) == 0)
            return 0;
    char **v = realloc(cx->cands[t], (cx->n_cands[t] + 1) * sizeof *v);
    if (!v)
        return -1;
    cx->cands[t] = v;
    if (!(v[cx->n_cands[t]] = strdup(name)))
        return -1;
    cx->n_cands[t]++;
    return 0;
}

/* Every name in key's list is a target; "KEY: ..." in err otherwise. */
static int check_names(const struct complexity *cx, const char *key,
                       const char *const *items, size_t n, char *err,
                       size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        if (!cx->host->target_section(cx->host, items[i])) {
            snprintf(err, errlen, "%s: no target named '%s'", key,
                     items[i]);
            return -1;
        }
    }
    return 0;
}

/* Add the targets of key (already checked) to tier t; LR_E_NOT_FOUND
   when the key is absent. */
static int add_list(struct complexity *cx, const struct lr_section *sec,
                    const char *key, int t, char *err, size_t errlen)
{
    const char *const *items = NULL;
    size_t n = 0;
    if (cx->host->cfg_list(sec, key, &items, &n) != LR_OK)
        return LR_E_NOT_FOUND;
    if (check_names(cx, key, items, n, err, errlen) != 0)
        return LR_E_CONFIG;
    for (size_t i = 0; i < n; i++) {
        if (add_cand(cx, t, items[i]) != 0) {
            snprintf(err, errlen, "out of memory");
            return LR_E_NOMEM;
        }
    }
    return LR_OK;
}

/* Every tier's own targets first (all three must name some), then each
   tier's fallback: fallback_X when set (even empty), else the own
   targets of the tiers below, nearest first. */
static int build_cands(struct complexity *cx, const struct lr_section *sec,
                       char *err, size_t errlen)
{
    size_t own[NTIERS];
    for (int t = 0; t < NTIERS; t++) {
        int rc = add_list(cx, sec, tier_names[t], t, err, errlen);
        if (rc == LR_E_NOT_FOUND || (rc == LR_OK && cx->n_cands[t] == 0)) {
            snprintf(err, errlen, "%s: name the targets of the %s tier "
                     "(they may repeat another tier's)", tier_names[t],
                     tier_names[t]);
            return LR_E_CONFIG;
        }
        if (rc != LR_OK)
            return rc;
        own[t] = cx->n_cands[t];
    }
    for (int t = 0; t < NTIERS; t++) {
        int rc = add_list(cx, sec, fallback_keys[t], t, err, errlen);
        if (rc != LR_E_NOT_FOUND) {
            if (rc != LR_OK)
                return rc;
            continue;
        }
        for (int below = t - 1; below >= 0; below--) {
            for (size_t i = 0; i < own[below]; i++) {
                if (add_cand(cx, t, cx->cands[below][i]) != 0) {
                    snprintf(err, errlen, "out of memory");
                    return LR_E_NOMEM;
                }
            }
        }
    }
    return LR_OK;
}

/* The first bad number as "KEY: ..." in err, or 0. */
static int check_numbers(const struct complexity *cx, int64_t ttl_s,
                         char *err, size_t errlen)
{
    for (int k = 0; k < CX_N; k++) {
        if (!(cx->w[k] >= 0 && cx->w[k] <= 1e6)) {
            snprintf(err, errlen, "%s: must be a weight from 0 to 1000000 "
                     "(a negative one would make the score fall with "
                     "evidence of difficulty)", weight_keys[k]);
            return -1;
        }
    }
    const struct {
        const char *key;
        int bad;
        const char *want;
    } rules[] = {
        {"bias", !(fabs(cx->bias) <= 1e6), "between -1000000 and 1000000"},
        {"medium_above", !(fabs(cx->medium_above) <= 1e6),
         "between -1000000 and 1000000"},
        {"complex_above", !(fabs(cx->complex_above) <= 1e6),
         "between -1000000 and 1000000"},
        {"conversation_ttl_s", ttl_s < 1 || ttl_s > INT64_C(315360000),
         "from 1 to 315360000 (ten years)"},
    };
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        if (rules[i].bad) {
            snprintf(err, errlen, "%s: must be %s", rules[i].key,
                     rules[i].want);
            return -1;
        }
    }
    if (cx->medium_above > cx->complex_above) {
        snprintf(err, errlen, "medium_above: must not be above "
                 "complex_above (%g > %g)", cx->medium_above,
                 cx->complex_above);
        return -1;
    }
    return 0;
}

static int create(const struct lr_section *sec, const struct lr_host *host,
                  void **inst, char *err, size_t errlen)
{
    struct complexity *cx = calloc(1, sizeof *cx);
    int64_t ttl_s = 0;
    if (!cx) {
        snprintf(err, errlen, "out of memory");
        return LR_E_NOMEM;
    }
    cx->host = host;
    for (int k = 0; k < CX_N; k++)
        host->cfg_double(sec, weight_keys[k], &cx->w[k]);
    host->cfg_double(sec, "bias", &cx->bias);
    host->cfg_double(sec, "medium_above", &cx->medium_above);
    host->cfg_double(sec, "complex_above", &cx->complex_above);
    host->cfg_int(sec, "conversation_ttl_s", &ttl_s);
    int rc = check_numbers(cx, ttl_s, err, errlen) ? LR_E_CONFIG : LR_OK;
    if (rc == LR_OK)
        rc = build_cands(cx, sec, err, errlen);
    if (rc != LR_OK) {
        destroy(cx);
        return rc;
    }
    cx->ttl_ms = ttl_s * 1000;
    *inst = cx;
    return LR_OK;
}

/* --- Conversation floor ------------------------------------------------ */

/* Store key of a conversation: the id itself when short and printable,
   else a 64-bit FNV-1a hash of it (store keys stay bounded). */
static void conv_key(const char *id, char *out, size_t len)
{
    size_t n = strlen(id);
    int plain = n <= 128;
    for (size_t i = 0; plain && i < n; i++)
        plain = (unsigned char)id[i] > ' ' && (unsigned char)id[i] < 127;
    if (plain) {
        snprintf(out, len, "conv/%s", id);
        return;
    }
    uint64_t h = UINT64_C(14695981039346656037);
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)id[i]) * UINT64_C(1099511628211);
    snprintf(out, len, "conv/#%016" PRIx64, h);
}

/* The stored tier of a conversation, -1 when none; the raw value goes
   to raw (for store_cas) when raw is not NULL. */
static int load_floor(const struct complexity *cx, const char *key,
                      struct lr_buf *raw)
{
    struct lr_buf v = {0};
    int t = -1;
    if (cx->host->store_get(cx->host, key, &v) == LR_OK && v.data)
        t = tier_of(v.data);
    if (raw && v.data)
        *raw = v;
    else
        cx->host->buf_free(&v);
    return t;
}

/* Raise the conversation's tier to at least t (refreshing its TTL).  A
   race with another process is retried a few times; losing them all
   means others kept writing, which only ever raises it. */
static void raise_floor(struct complexity *cx, const char *key, int t)
{
    const struct lr_host *h = cx->host;
    for (int tries = 0; tries < 4; tries++) {
        struct lr_buf cur = {0};
        int old = load_floor(cx, key, &cur);
        const char *val = tier_names[old > t ? old : t];
        int rc = h->store_cas(h, key, cur.data, cur.data ? cur.len : 0, val,
                              strlen(val), cx->ttl_ms);
        h->buf_free(&cur);
        if (rc == LR_OK)
            return;
        if (rc != LR_STORE_CAS_MISMATCH) {
            if (!cx->warned_store++)
                h->log(h, LR_LOG_WARN, "cannot store a conversation's "
                       "tier (status %d): stickiness is off until the "
                       "store works", rc);
            return;
        }
    }
    h->log(h, LR_LOG_DEBUG, "conversation tier: lost 4 store races");
}

/* --- Deciding ------------------------------------------------------------ */

/* The prompt (last user message) and the number of messages before it. */
static const char *prompt_of(const struct lr_chat *chat, int *turns)
{
    *turns = 0;
    if (!chat)
        return NULL;
    for (size_t i = chat->n_messages; i > 0; i--) {
        const struct lr_message *m = &chat->messages[i - 1];
        if (m->role == LR_ROLE_USER && m->content) {
            *turns = i - 1 > 100000 ? 100000 : (int)(i - 1);
            return m->content;
        }
    }
    *turns = chat->n_messages > 100000 ? 100000 : (int)chat->n_messages;
    return NULL;
}

static enum tier tier_for_score(const struct complexity *cx, double s)
{
    if (s > cx->complex_above)
        return COMPLEX;
    return s > cx->medium_above ? MEDIUM : SIMPLE;
}

/* Step 2 of the header comment: score, then the conversation floor
   (read only). */
static void decide_by_score(const struct complexity *cx,
                            const struct lr_policy_req *req,
                            struct decision *d)
{
    int turns = 0;
    const char *text = prompt_of(req->chat, &turns);
    cx_extract(text, turns, &d->f);
    d->score = cx_score(&d->f, cx->w, cx->bias, d->parts);
    d->scored = 1;
    d->tier = tier_for_score(cx, d->score);
    d->why = "score";
    if (req->conversation) {
        char key[160];
        conv_key(req->conversation, key, sizeof key);
        d->floor = load_floor(cx, key, NULL);
        if (d->floor > (int)d->tier) {
            d->tier = (enum tier)d->floor;
            d->why = "conversation";
        }
    }
}

/* A tier attribute's value, -1 when absent; a bad one warns once. */
static int tier_attr(struct complexity *cx, const struct lr_policy_req *req,
                     const char *name)
{
    const struct lr_host *h = cx->host;
    const char *v = h->req_get(h, req, name);
    int t = tier_of(v);
    if (v && t < 0 && !cx->warned_attr++)
        h->log(h, LR_LOG_WARN, "request attribute %s = '%.40s' is not a "
               "tier (simple, medium, complex): ignored", name, v);
    return t;
}

static void decide(struct complexity *cx, const struct lr_policy_req *req,
                   struct decision *d)
{
    memset(d, 0, sizeof *d);
    d->floor = -1;
    int want = tier_attr(cx, req, "tier_want");
    if (want >= 0) {
        d->tier = (enum tier)want;
        d->why = "tier_want";
    }
    else
        decide_by_score(cx, req, d);
    d->uncapped = d->tier;
    int cap = tier_attr(cx, req, "tier_cap");
    if (cap >= 0 && (int)d->tier > cap) {
        d->tier = (enum tier)cap;
        d->why = "tier_cap";
    }
}

/* --- Hooks ------------------------------------------------------------- */

static int route(void *inst, const struct lr_policy_req *req,
                 void *req_state, struct lr_candidates *cands)
{
    struct complexity *cx = inst;
    const struct lr_host *h = cx->host;
    struct decision d;
    (void)req_state;
    decide(cx, req, &d);
    if (req->conversation) {
        char key[160];
        conv_key(req->conversation, key, sizeof key);
        raise_floor(cx, key, (int)d.uncapped);
    }
    const char *name = tier_names[d.tier];
    h->req_set(h, req, "tier", name);
    h->counter_add(h, "complexity_tier", name, 1);
    if (d.scored)
        h->log(h, LR_LOG_DEBUG, "request %" PRIu64 ": tier %s (%s, score "
               "%.3f)", req->id, name, d.why, d.score);
    else
        h->log(h, LR_LOG_DEBUG, "request %" PRIu64 ": tier %s (%s)",
               req->id, name, d.why);
    return h->cand_set(cands, (const char *const *)cx->cands[d.tier],
                       cx->n_cands[d.tier]);
}

static void features_json(const struct lr_host *h, struct lr_buf *json,
                          const struct cx_features *f)
{
    h->buf_printf(json, "\"features\":{\"chars\":%" PRId64 ","
                  "\"code_blocks\":%d,\"code_lines\":%d,\"code_words\":%d,"
                  "\"trace_lines\":%d,\"error_words\":%d,\"math_words\":%d,"
                  "\"math_symbols\":%d,\"numbers\":%d,"
                  "\"operations\":%d,\"units\":%d,\"relations\":%d,"
                  "\"steps\":%d,"
                  "\"design_words\":%d,\"questions\":%d,\"turns\":%d,"
                  "\"easy_words\":%d}", f->chars, f->code_blocks,
                  f->code_lines, f->code_words, f->trace_lines,
                  f->error_words, f->math_words, f->math_symbols,
                  f->numbers, f->operations, f->units, f->relations,
                  f->steps,
                  f->design_words, f->questions, f->turns, f->easy_words);
}

/* {"tier","score","features":{raw counts},"parts":{signal: weighted
   term},"reason"} and, for a conversation with a stored tier,
   "conversation_tier".  No side effect: reads config and the store. */
static int classify(void *inst, const struct lr_policy_req *req,
                    struct lr_buf *json)
{
    const struct complexity *cx = inst;
    const struct lr_host *h = cx->host;
    struct decision d;
    memset(&d, 0, sizeof d);
    d.floor = -1;
    decide_by_score(cx, req, &d);
    locale_t old = c_locale_enter();   /* "score":0.5, never 0,5 */
    int rc = h->buf_printf(json, "{\"tier\":\"%s\",\"score\":%.4f,",
                           tier_names[d.tier], d.score);
    features_json(h, json, &d.f);
    h->buf_printf(json, ",\"parts\":{");
    for (int k = 0; k < CX_N; k++)
        h->buf_printf(json, "%s\"%s\":%.4f", k ? "," : "",
                      cx_signal_names[k], d.parts[k]);
    h->buf_printf(json, "},\"reason\":\"%s\"", d.why);
    if (d.floor >= 0)
        h->buf_printf(json, ",\"conversation_tier\":\"%s\"",
                      tier_names[d.floor]);
    rc = rc == LR_OK ? h->buf_printf(json, "}") : rc;
    c_locale_leave(old);
    return rc;
}

static const struct lr_policy_ops ops = {
    .keys = keys,
    .n_keys = sizeof keys / sizeof keys[0],
    .route = route,
    .classify = classify,
};

static const struct lr_plugin_desc desc = {
    LR_PLUGIN_HEADER,
    .name = "complexity",
    .kind = LR_PLUGIN_POLICY,
    .version = "1.0",
    .create = create,
    .destroy = destroy,
    .ops = &ops,
    .ops_size = sizeof ops,
};

/* The plugin's only exported symbol. */
LR_PLUGIN_EXPORT const struct lr_plugin_desc *lr_plugin_entry(void)
{
    return &desc;
}
