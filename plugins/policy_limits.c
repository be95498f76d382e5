/*
 * policy_limits.c - client-side rate limits per target (and per key of a
 * pool): rpm/tpm/rpd windows, in-flight cap, spacing between sends,
 * adaptive cool-down after 429s, learning from the provider's
 * rate-limit headers, and a per-user request rate.
 *
 *   [policy limits]
 *   plugin            = limits
 *   max_wait_ms       = 10000    ; longest wait one attempt accepts for
 *                                ; room; longer: skip to the next target
 *   window_ms         = 60000    ; the rpm/tpm/per_user_rpm "minute"
 *                                ; (shorter in time-compressed tests)
 *   day_ms            = 86400000 ; the rpd "day"
 *   per_user_rpm      = 0        ; requests per window_ms per end user
 *                                ; (0: off); over it: rate_limited_local
 *   cooldown_ms       = 500, 1500, 7000 ; block after the 1st, 2nd, 3rd+
 *                                ; 429 in a row; the last value repeats
 *   assume_max_tokens = 1024     ; completion tokens counted for tpm when
 *                                ; an attempt has no max_tokens
 *   inflight_ttl_ms   = 120000   ; lease on an in-flight slot
 *   inflight_poll_ms  = 250      ; wait between looks at a full slot set
 *
 *   [target gpt-mini]            ; keys this policy adds to targets
 *   rpm = 500                    ; requests per window_ms   (0/absent: off)
 *   tpm = 200000                 ; tokens per window_ms
 *   rpd = 10000                  ; requests per day_ms
 *   max_inflight = 8             ; attempts in flight at once (<= 256)
 *   min_interval_ms = 100        ; least time between two sends
 *
 *   [router]
 *   pipeline = budget, limits, complexity, breaker, retry
 *
 * before_attempt looks at, for the attempt's target: the cool-down, the
 * spacing, the three windows and the in-flight slots.  When any has no
 * room it answers WAIT for the longest of the waits (exactly the time
 * until room, see limits_window.h), or SKIP when the waits this attempt
 * has been asked to make would pass max_wait_ms; the reason names the
 * limit, e.g. "rate_window_full: rpm 15 of target x used, room in
 * 2300 ms".  A full in-flight set has no known end: it waits
 * inflight_poll_ms at a time (sooner if a lease lapses first).  When all
 * have room it counts the attempt (one request in rpm and rpd,
 * est_prompt_tokens + max_tokens in tpm) and takes a slot, each under
 * store_cas, so two processes never both take the last unit; a race
 * lost halfway gives back what was taken and waits.  Only a GO counts.
 *
 * Pools: windows and cool-downs are per (target, key) when the attempt
 * has a key_id (each key of a pool has its own provider quota; the rpm
 * etc. of the target apply to each key); in-flight slots and spacing
 * are per target (they protect the endpoint, not a quota).
 *
 * after_attempt (every outcome): gives the slot back; corrects tpm to
 * prompt_tokens + completion_tokens when known; on rate_limited blocks
 * the target (key) for cooldown_ms[n-1], n the 429s in a row, or for
 * the provider's hint when longer; a success ends the run and its
 * block (the provider takes requests again).  A 429 or success of an
 * attempt sent before the current cool-down began belongs to the burst
 * that caused it and changes the run not at all (four concurrent 429s
 * are one, not four, in a row).  When the provider
 * reports 0 requests (or tokens) left with a reset time, the target is
 * blocked until that reset.  A run is forgotten window_ms after its
 * block ends.  Never decides what comes next (LR_NEXT_DEFAULT).
 *
 * per_user_rpm: on_request counts the request against its user (req->
 * user; none: not limited) and rejects it with rate_limited_local, a
 * message and a retry hint (the time until room) when over.
 *
 * State lives in the store under this instance's namespace, so processes
 * sharing a store (and the INI: same instance name) share the limits:
 * "rpm|tpm|rpd/<target>[|<key_id>]" windows, "cool/<target>[|<key_id>]"
 * ("RUN START UNTIL WHY", wall ms), "inflight/<target>" leases,
 * "last/<target>" (wall ms of the last send), "user/<user>".  Only the
 * injected wall clock is read.  If the store fails, the attempt goes
 * ahead (a broken store must not stop all traffic) and a warning is
 * logged once.
 *
 * Approximations: an attempt that limits let through but a later policy
 * skipped is given back when the request's next attempt is gated here;
 * one that ends the request that way (or a cancelled request) keeps its
 * window count (it may have reached the provider) and only its slot is
 * given back in on_complete.  Target keys are read on first use of each
 * target (create() does not see the target list): a bad value skips the
 * target with "bad_config: ..." and an error logged once.
 *
 * Files: the window is limits_window.h, the in-flight leases
 * limits_lease.h, their store reads and writes limits_store.h; the
 * design is explained in docs/policy-limits.md.
 *
 * Counters: limits_waits{rpm|tpm|rpd|cooldown|min_interval|max_inflight},
 * limits_skips{same labels, bad_config}, limits_rejected{per_user_rpm},
 * limits_cooldowns{429|requests|tokens}.  A cool-down beginning is
 * logged at INFO, once (by the process that wins the store race).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "llmroute_plugin.h"
#include "limits_lease.h"
#include "limits_store.h"
#include "limits_window.h"

#define MAX_STEPS 16
#define MAX_MS INT64_C(1000000000000)    /* about 31 years */
#define MAX_COUNT INT64_C(1000000000000) /* rpm/tpm/rpd ceiling */
#define TK_LEN 384            /* "target|key_id" within store keys */

static const struct lr_cfg_key keys[] = {
    {"max_wait_ms", LR_CFG_INT, "10000",
     "longest wait an attempt accepts for room; longer: next target"},
    {"window_ms", LR_CFG_INT, "60000",
     "length of the rpm/tpm/per_user_rpm window in ms"},
    {"day_ms", LR_CFG_INT, "86400000", "length of the rpd window in ms"},
    {"per_user_rpm", LR_CFG_INT, "0",
     "requests per window_ms per end user (0: off)"},
    {"cooldown_ms", LR_CFG_LIST, "500, 1500, 7000",
     "block after the 1st, 2nd, 3rd+ 429 in a row; the last repeats"},
    {"assume_max_tokens", LR_CFG_INT, "1024",
     "completion tokens counted for tpm when no max_tokens is set"},
    {"inflight_ttl_ms", LR_CFG_INT, "120000",
     "lease of an in-flight slot; a crashed holder's lapses after it"},
    {"inflight_poll_ms", LR_CFG_INT, "250",
     "wait between looks at a full max_inflight"},
};

static const struct lr_cfg_key target_keys[] = {
    {"rpm", LR_CFG_INT, "0", "limits: requests per window_ms (0: none)"},
    {"tpm", LR_CFG_INT, "0", "limits: tokens per window_ms (0: none)"},
    {"rpd", LR_CFG_INT, "0", "limits: requests per day_ms (0: none)"},
    {"max_inflight", LR_CFG_INT, "0",
     "limits: attempts in flight at once (0: none)"},
    {"min_interval_ms", LR_CFG_INT, "0",
     "limits: least ms between two sends (0: none)"},
};
#define N_TKEYS (sizeof target_keys / sizeof target_keys[0])

/* One target's limits, read on first use. */
struct tlim {
    char *name;
    int64_t v[N_TKEYS];           /* in target_keys order */
    char err[160];                /* why the section is unusable, or "" */
};
enum { T_RPM, T_TPM, T_RPD, T_INFLIGHT, T_INTERVAL };

struct limits {
    const struct lr_host *host;
    int64_t max_wait, window, day, per_user, assume;
    int64_t cool[MAX_STEPS];
    size_t n_cool;
    struct tlim *t;
    size_t nt;
    uint64_t seed, serial;        /* lease ids */
    struct ls_ctx st;             /* the store side (limits_store.h) */
};

/* Per request: the attempt being gated or in flight. */
struct req {
    char *target, *key;           /* key: the attempt's key_id or "" */
    int index;
    int held;                     /* GO given, outcome not seen yet */
    int64_t sent_at;              /* wall ms of the GO */
    int64_t tokens;               /* counted in tpm */
    char lease[LL_ID];            /* "" when none */
    int64_t waited;               /* ms of waits asked for this attempt */
};

/* --- Configuration ------------------------------------------------------ */

static int read_int(const struct lr_host *h, const struct lr_section *s,
                    const char *key, int64_t lo, int64_t hi, int64_t *out,
                    char *err, size_t errlen)
{
    h->cfg_int(s, key, out);
    if (*out >= lo && *out <= hi)
        return 0;
    snprintf(err, errlen, "%s: must be %" PRId64 " to %" PRId64 ", got %"
             PRId64, key, lo, hi, *out);
    return -1;
}

static int read_cooldowns(struct limits *l, const struct lr_section *s,
                          char *err, size_t errlen)
{
    const char *const *items = NULL;
    size_t n = 0;
    l->host->cfg_list(s, "cooldown_ms", &items, &n);
    if (n == 0 || n > MAX_STEPS) {
        snprintf(err, errlen, "cooldown_ms: give 1 to %d delays in ms",
                 MAX_STEPS);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char *end;
        long long v = strtoll(items[i], &end, 10);
        if (end == items[i] || *end || v < 0 || v > 86400000) {
            snprintf(err, errlen, "cooldown_ms: '%s' is not a delay in ms "
                     "(0 to 86400000)", items[i]);
            return -1;
        }
        l->cool[i] = v;
    }
    l->n_cool = n;
    return 0;
}

static int read_config(struct limits *l, const struct lr_section *s,
                       char *err, size_t errlen)
{
    const struct lr_host *h = l->host;
    if (read_int(h, s, "max_wait_ms", 0, MAX_MS, &l->max_wait, err,
                 errlen) ||
        read_int(h, s, "window_ms", 1, MAX_MS, &l->window, err, errlen) ||
        read_int(h, s, "day_ms", 1, MAX_MS, &l->day, err, errlen) ||
        read_int(h, s, "per_user_rpm", 0, MAX_COUNT, &l->per_user, err,
                 errlen) ||
        read_int(h, s, "assume_max_tokens", 0, MAX_COUNT, &l->assume, err,
                 errlen) ||
        read_int(h, s, "inflight_ttl_ms", 1, MAX_MS, &l->st.lease_ttl_ms, err,
                 errlen) ||
        read_int(h, s, "inflight_poll_ms", 1, MAX_MS, &l->st.poll_ms, err,
                 errlen))
        return -1;
    return read_cooldowns(l, s, err, errlen);
}

static int create(const struct lr_section *sec, const struct lr_host *host,
                  void **inst, char *err, size_t errlen)
{
    struct limits *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return LR_E_NOMEM;
    }
    l->host = host;
    l->st.host = host;
    if (read_config(l, sec, err, errlen) != 0) {
        free(l);
        return LR_E_CONFIG;
    }
    /* Lease ids must differ between processes sharing a store. */
    l->seed = (uint64_t)host->wall_ms(host) * 0x9E3779B97F4A7C15u ^
              (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)l;
    *inst = l;
    return LR_OK;
}

static void destroy(void *inst)
{
    struct limits *l = inst;
    for (size_t i = 0; l && i < l->nt; i++)
        free(l->t[i].name);
    if (l)
        free(l->t);
    free(l);
}

/* Read and check one target's keys into t. */
static void load_target(const struct limits *l, struct tlim *t)
{
    const struct lr_host *h = l->host;
    const struct lr_section *s = h->target_section(h, t->name);
    for (size_t k = 0; k < N_TKEYS && s; k++) {
        int64_t hi = k == T_INFLIGHT ? LL_MAX
                     : k == T_INTERVAL ? MAX_MS : MAX_COUNT;
        int rc = h->cfg_int(s, target_keys[k].key, &t->v[k]);
        if (rc == LR_E_NOT_FOUND)
            t->v[k] = 0;
        else if (rc != LR_OK || t->v[k] < 0 || t->v[k] > hi)
            snprintf(t->err, sizeof t->err, "target %s: %s: must be 0 "
                     "(none) to %" PRId64, t->name, target_keys[k].key, hi);
        if (t->err[0]) {
            h->log(h, LR_LOG_ERROR, "%s", t->err);
            return;
        }
    }
}

/* ABI 1.1 check_target: the same ranges, at load, so a bad value is a
   FILE:LINE error instead of a skip at run time. */
static int check_target(void *inst, const struct lr_section *s, char *err,
                        size_t errlen)
{
    const struct lr_host *h = ((const struct limits *)inst)->host;
    for (size_t k = 0; k < N_TKEYS; k++) {
        int64_t hi = k == T_INFLIGHT ? LL_MAX
                     : k == T_INTERVAL ? MAX_MS : MAX_COUNT;
        int64_t v = 0;
        int rc = h->cfg_int(s, target_keys[k].key, &v);
        if (rc == LR_E_NOT_FOUND || (rc == LR_OK && v >= 0 && v <= hi))
            continue;
        snprintf(err, errlen, "%s: must be 0 (none) to %" PRId64,
                 target_keys[k].key, hi);
        return LR_E_CONFIG;
    }
    return LR_OK;
}

/* The cached limits of target name; NULL when out of memory. */
static const struct tlim *target_limits(struct limits *l, const char *name)
{
    for (size_t i = 0; i < l->nt; i++)
        if (strcmp(l->t[i].name, name) == 0)
            return &l->t[i];
    struct tlim *v = realloc(l->t, (l->nt + 1) * sizeof *v);
    if (!v)
        return NULL;
    l->t = v;
    struct tlim *t = &v[l->nt];
    memset(t, 0, sizeof *t);
    if (!(t->name = strdup(name)))
        return NULL;
    l->nt++;
    load_target(l, t);
    return t;
}

/* --- Lease ids ---------------------------------------------------------- */

/* A lease id no other attempt, here or in another process, holds. */
static void next_lease_id(struct limits *l, char *out)
{
    uint64_t z = l->seed + ++l->serial * 0x9E3779B97F4A7C15u;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u; /* splitmix64 */
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    snprintf(out, LL_ID, "%016" PRIx64, z ^ (z >> 31));
}

/* --- Cool-down state ---------------------------------------------------- */

/* "RUN START UNTIL WHY": 429s in a row, wall ms the current block began
   and ends, and what began it ("429", "requests", "tokens"). */
struct cool {
    int64_t run, start, until;
    char why[16];
    int found;
    struct lr_buf raw;
};

static int cool_load(struct limits *l, const char *key, struct cool *c)
{
    int rc = get_raw(&l->st, key, &c->raw);
    long long run = 0, start = 0, until = 0;
    c->found = rc == LR_OK;
    c->run = c->start = c->until = 0;
    snprintf(c->why, sizeof c->why, "429");
    if (c->found && sscanf(text_of(&c->raw), "%lld %lld %lld %15s", &run,
                           &start, &until, c->why) == 4) {
        c->run = run;
        c->start = start;
        c->until = until;
    }
    return rc == LR_E_NOT_FOUND ? LR_OK : rc;
}

/* Replace *old by *now (cas); kept until window_ms after the block. */
static int cool_save(struct limits *l, const char *key,
                     const struct cool *old, const struct cool *now,
                     int64_t wall)
{
    char val[96];
    snprintf(val, sizeof val, "%" PRId64 " %" PRId64 " %" PRId64 " %s",
             now->run, now->start, now->until, now->why);
    int64_t ttl = (now->until > wall ? now->until - wall : 0) + l->window;
    return put_raw(&l->st, key, old->found, &old->raw, val, ttl);
}

static const char *ordinal(int64_t n)
{
    int64_t t = n % 100;
    if (t >= 11 && t <= 13)
        return "th";
    return n % 10 == 1 ? "st" : n % 10 == 2 ? "nd" : n % 10 == 3 ? "rd"
                                                                 : "th";
}

/* What the block is about, for reasons and logs. */
static void cool_words(const struct cool *c, char *out, size_t len)
{
    if (strcmp(c->why, "429") == 0)
        snprintf(out, len, "%" PRId64 "%s 429 in a row", c->run,
                 ordinal(c->run));
    else
        snprintf(out, len, "provider reports no %s left", c->why);
}

/* --- The gate ----------------------------------------------------------- */

/* The longest wait found so far, with its reason and counter label. */
struct block {
    int64_t wait;
    const char *label;
    char why[256];
};

static void note(struct block *b, int64_t wait, const char *label,
                 const char *fmt, ...) LR_PRINTF(4, 5);

static void note(struct block *b, int64_t wait, const char *label,
                 const char *fmt, ...)
{
    if (wait <= b->wait)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->why, sizeof b->why, fmt, ap);
    va_end(ap);
    b->wait = wait;
    b->label = label;
}

/* One attempt as the gate sees it. */
struct gate {
    const struct tlim *t;
    const char *target;
    char tk[TK_LEN];              /* target or "target|key_id" */
    char who[TK_LEN + 16];        /* "target x" or "target x key K" */
    struct win w[3];
    size_t nw;
    int64_t tokens;               /* counted in tpm (0: no tpm) */
    int64_t now;
};

static void add_win(struct gate *g, const char *dim, int64_t len,
                    int64_t limit, int64_t need)
{
    if (limit <= 0)
        return;
    struct win *w = &g->w[g->nw++];
    w->dim = dim;
    snprintf(w->key, sizeof w->key, "%s/%s", dim, g->tk);
    w->len = len;
    w->limit = limit;
    w->need = need;
}

/* The store name of a target's windows and cool-down: per key when the
   attempt has one. */
static void tk_of(char *out, size_t len, const char *target,
                  const char *key_id)
{
    int keyed = key_id && *key_id;
    snprintf(out, len, "%s%s%s", target, keyed ? "|" : "",
             keyed ? key_id : "");
}

/* The windows, keys and wording for an attempt on target t. */
static void gate_init(const struct limits *l, struct gate *g,
                      const struct tlim *t, const char *key_id,
                      int64_t tokens)
{
    memset(g, 0, sizeof *g);
    g->t = t;
    g->target = t->name;
    g->now = l->host->wall_ms(l->host);
    int keyed = key_id && *key_id;
    tk_of(g->tk, sizeof g->tk, t->name, key_id);
    snprintf(g->who, sizeof g->who, "target %s%s%s", t->name,
             keyed ? " key " : "", keyed ? key_id : "");
    g->tokens = t->v[T_TPM] > 0 ? tokens : 0;
    add_win(g, "rpm", l->window, t->v[T_RPM], 1);
    add_win(g, "tpm", l->window, t->v[T_TPM], g->tokens);
    add_win(g, "rpd", l->day, t->v[T_RPD], 1);
}

static void note_window(struct block *b, const struct gate *g,
                        const struct win *w, int64_t room, int64_t used)
{
    if (strcmp(w->dim, "tpm") == 0)
        note(b, room, w->dim, "rate_window_full: tpm %" PRId64 " of %"
             PRId64 " of %s used, %" PRId64 " needed, room in %" PRId64
             " ms", used, w->limit, g->who, w->need, room);
    else
        note(b, room, w->dim, "rate_window_full: %s %" PRId64 " of %s "
             "used, room in %" PRId64 " ms", w->dim, used, g->who, room);
}

/* Read-only look at every limit: the longest wait into b. */
static void check_all(struct limits *l, const struct gate *g,
                      struct block *b)
{
    char key[KEY_LEN], words[64];
    struct cool c = {0};
    int64_t used, ago = 0, busy = 0;
    snprintf(key, sizeof key, "cool/%s", g->tk);
    if (cool_load(l, key, &c) == LR_OK && c.until > g->now) {
        cool_words(&c, words, sizeof words);
        note(b, c.until - g->now, "cooldown", "cooldown: %s, %" PRId64
             " ms left", words, c.until - g->now);
    }
    l->host->buf_free(&c.raw);
    int64_t interval = g->t->v[T_INTERVAL];
    int64_t left = interval > 0 ? interval_take(&l->st, g->target, interval,
                                                g->now, 0, &ago) : 0;
    note(b, left, "min_interval", "min_interval: %" PRId64 " ms since the "
         "last send to %s, %" PRId64 " ms left", ago, g->who, left);
    for (size_t i = 0; i < g->nw; i++) {
        int64_t room = window_take(&l->st, &g->w[i], g->now, 0, &used);
        note_window(b, g, &g->w[i], room, used);
    }
    int64_t max = g->t->v[T_INFLIGHT];
    int64_t wait = max > 0 ? lease_take(&l->st, g->target, max, "", g->now, 0,
                                        &busy) : 0;
    note(b, wait, "max_inflight", "max_inflight: %" PRId64 " of %" PRId64
         " in flight on %s", busy, max, g->who);
}

/* Give back what windows 0..n-1 counted at wall time at. */
static void untake_windows(struct limits *l, const struct gate *g,
                           size_t n, int64_t at)
{
    for (size_t i = 0; i < n; i++)
        window_adjust(&l->st, &g->w[i], at, -g->w[i].need, g->now);
}

/* Count the attempt everywhere; 0, or -1 with the wait in b (a race
   with another process; what was taken is given back). */
static int take_all(struct limits *l, const struct gate *g, char *lease,
                    struct block *b)
{
    int64_t used, busy = 0, ago = 0;
    for (size_t i = 0; i < g->nw; i++) {
        int64_t room = window_take(&l->st, &g->w[i], g->now, 1, &used);
        if (room > 0) {
            note_window(b, g, &g->w[i], room, used);
            untake_windows(l, g, i, g->now);
            return -1;
        }
    }
    int64_t max = g->t->v[T_INFLIGHT], wait = 0;
    lease[0] = '\0';
    if (max > 0) {
        next_lease_id(l, lease);
        wait = lease_take(&l->st, g->target, max, lease, g->now, 1, &busy);
    }
    int64_t interval = g->t->v[T_INTERVAL];
    /* Spacing last: a send time written cannot be taken back. */
    int64_t left = wait == 0 && interval > 0
        ? interval_take(&l->st, g->target, interval, g->now, 1, &ago) : 0;
    if (wait == 0 && left == 0)
        return 0;
    note(b, wait, "max_inflight", "max_inflight: %" PRId64 " of %" PRId64
         " in flight on %s", busy, max, g->who);
    note(b, left, "min_interval", "min_interval: %" PRId64 " ms since the "
         "last send to %s, %" PRId64 " ms left", ago, g->who, left);
    if (wait == 0 && lease[0])
        lease_give(&l->st, g->target, lease, g->now);
    lease[0] = '\0';
    untake_windows(l, g, g->nw, g->now);
    return -1;
}

/* --- The attempt a request holds ---------------------------------------- */

static int holds(const struct req *q, const char *target, int index)
{
    return q && q->held && q->target && strcmp(q->target, target) == 0 &&
           q->index == index;
}

/* Give back what q's attempt took and never sent (a later policy
   skipped it, or its key changed while waiting). */
static void abandon(struct limits *l, struct req *q)
{
    const struct tlim *t = q->held ? target_limits(l, q->target) : NULL;
    if (!t)
        return;
    struct gate g;
    gate_init(l, &g, t, q->key, q->tokens);
    untake_windows(l, &g, g.nw, q->sent_at);
    if (q->lease[0])
        lease_give(&l->st, q->target, q->lease, g.now);
    q->lease[0] = '\0';
    q->held = 0;
}

/* Make q track the attempt (target, key, index); -1 out of memory. */
static int track(struct req *q, const char *target, const char *key,
                 int index)
{
    free(q->target);
    free(q->key);
    memset(q, 0, sizeof *q);
    q->target = strdup(target);
    q->key = strdup(key);
    q->index = index;
    return q->target && q->key ? 0 : -1;
}

/* tpm counted est at GO; make it the real tokens once known. */
static void correct_tokens(struct limits *l, const struct req *q,
                           const struct lr_policy_attempt *a)
{
    const struct tlim *t = target_limits(l, q->target);
    if (!t || t->v[T_TPM] <= 0 ||
        (a->prompt_tokens < 0 && a->completion_tokens < 0))
        return;
    int64_t est_prompt = a->est_prompt_tokens > 0 ? a->est_prompt_tokens
                                                  : 0;
    if (est_prompt > q->tokens)
        est_prompt = q->tokens;
    int64_t real = (a->prompt_tokens >= 0 ? a->prompt_tokens : est_prompt) +
                   (a->completion_tokens >= 0 ? a->completion_tokens
                                              : q->tokens - est_prompt);
    struct win w = {"tpm", "", l->window, t->v[T_TPM], 0};
    char tk[TK_LEN];
    tk_of(tk, sizeof tk, q->target, q->key);
    snprintf(w.key, sizeof w.key, "tpm/%s", tk);
    window_adjust(&l->st, &w, q->sent_at, real - q->tokens,
                  l->host->wall_ms(l->host));
}

/* --- Cool-downs --------------------------------------------------------- */

static int64_t schedule(const struct limits *l, int64_t run)
{
    size_t i = run < 1 ? 0 : (size_t)(run - 1);
    return l->cool[i < l->n_cool ? i : l->n_cool - 1];
}

/*
 * A 429 on tk for an attempt sent at sent_at.  Sent after the current
 * block began (or none): one more in the run, blocked for the schedule
 * or the hint when longer.  Sent before: the same burst; only a longer
 * hint extends the block.
 */
static void on_429(struct limits *l, const struct gate *g, int64_t hint,
                   int64_t sent_at)
{
    const struct lr_host *h = l->host;
    char key[KEY_LEN], words[64];
    int64_t now = g->now;
    snprintf(key, sizeof key, "cool/%s", g->tk);
    for (int i = 0; i < CAS_TRIES; i++) {
        struct cool c = {0}, n;
        if (cool_load(l, key, &c) != LR_OK)
            break;
        n = c;
        int fresh = !c.found || sent_at > c.start;
        int64_t ms = fresh ? schedule(l, c.run + 1) : 0;
        ms = hint > ms ? hint : ms;
        if (fresh) {
            n.run = c.run + 1;
            n.start = now;
            snprintf(n.why, sizeof n.why, "429");
        }
        n.until = now + ms > c.until ? now + ms : c.until;
        if (!fresh && n.until == c.until) {
            h->buf_free(&c.raw);
            return;
        }
        int rc = cool_save(l, key, &c, &n, now);
        h->buf_free(&c.raw);
        if (rc == LR_STORE_CAS_MISMATCH)
            continue;
        if (rc == LR_OK && fresh) {
            cool_words(&n, words, sizeof words);
            h->log(h, LR_LOG_INFO, "%s: %s, cool-down %" PRId64 " ms",
                   g->who, words, n.until - now);
            h->counter_add(h, "limits_cooldowns", "429", 1);
        }
        return;
    }
}

/* A success of an attempt sent after the block began ends the run. */
static void on_success(struct limits *l, const struct gate *g,
                       int64_t sent_at)
{
    char key[KEY_LEN];
    int64_t now = g->now;
    snprintf(key, sizeof key, "cool/%s", g->tk);
    for (int i = 0; i < CAS_TRIES; i++) {
        struct cool c = {0}, n;
        int rc = cool_load(l, key, &c);
        if (rc == LR_OK && c.found && c.run > 0 && sent_at > c.start) {
            n = c;
            n.run = 0;
            n.until = now < c.until ? now : c.until;
            rc = cool_save(l, key, &c, &n, now);
        }
        l->host->buf_free(&c.raw);
        if (rc != LR_STORE_CAS_MISMATCH)
            return;
    }
}

/* The provider says nothing is left of what (requests, tokens) until
   reset_ms from now: block until then. */
static void block_until(struct limits *l, const struct gate *g,
                        const char *what, int64_t reset_ms)
{
    const struct lr_host *h = l->host;
    char key[KEY_LEN];
    int64_t now = g->now;
    snprintf(key, sizeof key, "cool/%s", g->tk);
    for (int i = 0; i < CAS_TRIES; i++) {
        struct cool c = {0}, n;
        if (cool_load(l, key, &c) != LR_OK || c.until >= now + reset_ms) {
            h->buf_free(&c.raw);
            return;
        }
        n = c;
        n.until = now + reset_ms;
        int begins = c.until <= now;
        if (begins) {
            n.start = now;
            snprintf(n.why, sizeof n.why, "%s", what);
        }
        int rc = cool_save(l, key, &c, &n, now);
        h->buf_free(&c.raw);
        if (rc == LR_STORE_CAS_MISMATCH)
            continue;
        if (rc == LR_OK && begins) {
            h->log(h, LR_LOG_INFO, "%s: provider reports no %s left, "
                   "blocked for %" PRId64 " ms", g->who, what, reset_ms);
            h->counter_add(h, "limits_cooldowns", what, 1);
        }
        return;
    }
}

static void learn(struct limits *l, const struct gate *g,
                  const struct lr_policy_attempt *a)
{
    if (a->rl_remaining_requests == 0 && a->rl_reset_requests_ms > 0)
        block_until(l, g, "requests", a->rl_reset_requests_ms);
    if (a->rl_remaining_tokens == 0 && a->rl_reset_tokens_ms > 0)
        block_until(l, g, "tokens", a->rl_reset_tokens_ms);
}

/* --- Hooks -------------------------------------------------------------- */

/* Count a request against its user's window; LR_OK or a rejection. */
static int user_check(struct limits *l, const char *user, char *msg,
                      size_t msglen, int64_t *retry_after_ms)
{
    const struct lr_host *h = l->host;
    struct win w = {"per_user_rpm", "", l->window, l->per_user, 1};
    int64_t used = 0;
    if (strlen(user) <= 200) {
        snprintf(w.key, sizeof w.key, "user/%s", user);
    }
    else { /* a very long id: its FNV-1a hash keeps the key short */
        uint64_t x = 0xcbf29ce484222325u;
        for (const char *p = user; *p; p++)
            x = (x ^ (unsigned char)*p) * 0x100000001b3u;
        snprintf(w.key, sizeof w.key, "user/#%016" PRIx64, x);
    }
    int64_t room = window_take(&l->st, &w, h->wall_ms(h), 1, &used);
    if (room <= 0)
        return LR_OK;
    snprintf(msg, msglen, "per_user_rpm: %" PRId64 " requests in the last %"
             PRId64 " ms (limit %" PRId64 "), room in %" PRId64 " ms", used,
             l->window, l->per_user, room);
    if (retry_after_ms)
        *retry_after_ms = room;
    h->counter_add(h, "limits_rejected", "per_user_rpm", 1);
    return LR_E_RATE_LIMITED_LOCAL;
}

static int on_request(void *inst, const struct lr_policy_req *req,
                      void **req_state, char *msg, size_t msglen,
                      int64_t *retry_after_ms)
{
    struct limits *l = inst;
    struct req *q = calloc(1, sizeof *q);
    if (!q) {
        snprintf(msg, msglen, "out of memory");
        return LR_E_NOMEM;
    }
    *req_state = q;
    if (l->per_user > 0 && req->user && req->user[0])
        return user_check(l, req->user, msg, msglen, retry_after_ms);
    return LR_OK;
}

/* WAIT b->wait when this attempt's waits stay within max_wait_ms, else
   SKIP; either way with b's reason. */
static enum lr_verdict hold_off(struct limits *l, struct req *q,
                                const struct block *b, int64_t *wait_ms,
                                char *reason, size_t reasonlen)
{
    const struct lr_host *h = l->host;
    snprintf(reason, reasonlen, "%s", b->why);
    if (q->waited + b->wait <= l->max_wait) {
        q->waited += b->wait;
        *wait_ms = b->wait;
        h->counter_add(h, "limits_waits", b->label, 1);
        return LR_WAIT;
    }
    h->counter_add(h, "limits_skips", b->label, 1);
    return LR_SKIP;
}

static enum lr_verdict before_attempt(void *inst,
                                      const struct lr_policy_req *req,
                                      void *req_state,
                                      const struct lr_policy_attempt *a,
                                      int64_t *wait_ms, char *reason,
                                      size_t reasonlen)
{
    struct limits *l = inst;
    struct req *q = req_state;
    const char *key = a->key_id ? a->key_id : "";
    (void)req;
    const struct tlim *t = target_limits(l, a->target);
    if (!t || !q)
        return LR_GO; /* out of memory: limits cannot be kept */
    if (t->err[0]) {
        snprintf(reason, reasonlen, "bad_config: %s", t->err);
        l->host->counter_add(l->host, "limits_skips", "bad_config", 1);
        return LR_SKIP;
    }
    if (holds(q, a->target, a->index) && strcmp(q->key, key) == 0)
        return LR_GO; /* asked again after another policy's wait */
    if (!q->target || strcmp(q->target, a->target) != 0 ||
        q->index != a->index || strcmp(q->key, key) != 0) {
        abandon(l, q);
        if (track(q, a->target, key, a->index) != 0)
            return LR_GO;
    }
    struct gate g;
    int64_t completion = a->max_tokens > 0 ? a->max_tokens : l->assume;
    int64_t prompt = a->est_prompt_tokens > 0 ? a->est_prompt_tokens : 0;
    gate_init(l, &g, t, key, prompt + completion);
    struct block b = {0, "", ""};
    check_all(l, &g, &b);
    if (b.wait == 0 && take_all(l, &g, q->lease, &b) == 0) {
        q->held = 1;
        q->sent_at = g.now;
        q->tokens = g.tokens;
        return LR_GO;
    }
    return hold_off(l, q, &b, wait_ms, reason, reasonlen);
}

/* Observe only: the core or a retry policy decides what comes next. */
static enum lr_next after_attempt(void *inst,
                                  const struct lr_policy_req *req,
                                  void *req_state,
                                  const struct lr_policy_attempt *a,
                                  int64_t *delay_ms, char *reason,
                                  size_t reasonlen)
{
    struct limits *l = inst;
    struct req *q = req_state;
    (void)req;
    (void)delay_ms;
    (void)reason;
    (void)reasonlen;
    const struct tlim *t = target_limits(l, a->target);
    if (!t || t->err[0])
        return LR_NEXT_DEFAULT;
    int mine = holds(q, a->target, a->index);
    struct gate g;
    gate_init(l, &g, t, mine ? q->key : a->key_id, 0);
    int64_t sent_at = mine ? q->sent_at : g.now;
    if (mine) {
        if (q->lease[0])
            lease_give(&l->st, q->target, q->lease, g.now);
        q->lease[0] = '\0';
        correct_tokens(l, q, a);
        q->held = 0;
    }
    if (a->error == LR_E_RATE_LIMITED)
        on_429(l, &g, a->retry_after_ms, sent_at);
    else if (a->error == LR_OK)
        on_success(l, &g, sent_at);
    learn(l, &g, a);
    return LR_NEXT_DEFAULT;
}

/* An attempt still held here never got an outcome (cancelled, or a
   later policy skipped it): its slot goes back; its window counts stay,
   as it may have reached the provider. */
static void on_complete(void *inst, const struct lr_policy_req *req,
                        void *req_state,
                        const struct lr_policy_attempt *final_attempt)
{
    struct limits *l = inst;
    struct req *q = req_state;
    (void)req;
    (void)final_attempt;
    if (!q)
        return;
    if (q->held && q->lease[0])
        lease_give(&l->st, q->target, q->lease, l->host->wall_ms(l->host));
    free(q->target);
    free(q->key);
    free(q);
}

static const struct lr_policy_ops ops = {
    .keys = keys,
    .n_keys = sizeof keys / sizeof keys[0],
    .on_request = on_request,
    .before_attempt = before_attempt,
    .after_attempt = after_attempt,
    .on_complete = on_complete,
    .target_keys = target_keys,
    .n_target_keys = N_TKEYS,
    .check_target = check_target,
};

static const struct lr_plugin_desc desc = {
    LR_PLUGIN_HEADER,
    .name = "limits",
    .kind = LR_PLUGIN_POLICY,
    .version = "1.0",
    .create = create,
    .destroy = destroy,
    .ops = &ops,
    .ops_size = sizeof ops,
};

/* The plugin's only exported symbol: it must do nothing but return the
   constant descriptor. */
LR_PLUGIN_EXPORT const struct lr_plugin_desc *lr_plugin_entry(void)
{
    return &desc;
}
