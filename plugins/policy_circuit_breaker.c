/*
 * policy_circuit_breaker.c - a circuit breaker per target: stop sending
 * to a target that keeps failing, let a few probes through after a pause,
 * and close again when a probe succeeds.
 *
 *   [policy breaker]
 *   plugin           = circuit_breaker
 *   failures         = 5        ; consecutive counted failures to trip
 *   open_ms          = 30000    ; first open period
 *   max_open_ms      = 300000   ; cap for the doubling on repeated trips
 *   half_open_probes = 1        ; probes in flight at once when half-open
 *   window           = 60000    ; rolling window (ms) of the ratio rule
 *   failure_ratio    = 0        ; 0: ratio rule off; e.g. 0.5
 *   min_requests     = 20       ; attempts in the window before the ratio
 *                               ; rule applies
 *   count_classes    = overloaded, server_error, timeout, network
 *
 *   [router]
 *   pipeline = ..., breaker, retry   ; before retry: see "Placement"
 *
 * States, per target.  closed: attempts go ahead.  A counted failure
 * adds to a consecutive counter and to the window; the breaker trips to
 * open when the counter reaches `failures`, or when the window holds at
 * least `min_requests` attempts and failures/attempts >= failure_ratio.
 * open: before_attempt skips the target with the reason
 * "breaker_open (N ms left)".  When the open period is over the next
 * attempt moves it to half-open: at most `half_open_probes` attempts
 * (probes) are in flight at once, others skip with "breaker_half_open".
 * A successful probe closes the breaker and forgets its history (trip
 * count, consecutive counter, window).  A failed probe (counted class)
 * opens it again for twice the last period, capped at max_open_ms.
 *
 * What counts: only the classes in count_classes (any error class but
 * bad_request and context_length, which belong to the request, not to
 * the target).  A success resets the consecutive counter; an error of a
 * class not counted neither counts nor resets it, and is not an attempt
 * for the ratio either: it says nothing about the target's health.
 *
 * The window is a sliding-window counter (as in Cloudflare's rate
 * limiter): fixed buckets of `window` ms, and the estimate is the current
 * bucket plus the previous one weighted by the part of it still inside
 * the window.  Two store counters per bucket, no per-attempt log.
 *
 * State lives in the store under this instance's namespace, keyed by
 * target: "<target>/state" ("open UNTIL MS" or "half_open UNTIL MS";
 * when closed, absent or "closed 0 0" with a TTL; UNTIL is wall-clock
 * ms), "<target>/consec",
 * "<target>/probes" and "<target>/w/<bucket>/{n,f}".  Per instance rather
 * than shared ('/breaker/...'), so two breakers with different
 * thresholds never fight over one state; processes sharing a store and
 * the same INI (same instance name) share the breakers.  Transitions use
 * store_cas, so with a shared store only one process logs a trip.  Only
 * the injected wall clock is used, since store TTLs follow wall time.
 *
 * Every transition is logged at WARN, e.g. "target a: closed -> open for
 * 30000 ms after 5 consecutive failures", and counted as
 * breaker_transitions{"<section>/<target>:<open|half_open|closed>"}.
 * The gauge breaker_state{"<section>/<target>"} (ABI 1.2) holds the
 * state: 0 closed, 1 half-open, 2 open (ordered by how little gets
 * through).  The section is this instance's [policy NAME], so two
 * breakers with different thresholds keep their own series, neither
 * overwritten nor summed (the gateway's /metrics splits the label at its
 * first '/', as target names may hold one, into
 * policy="NAME",target="TARGET", and the counter's state at its last ':'
 * into transition="open").  The gauge is set
 * on every transition this process makes and every time it reads the
 * state from the store, so with a store shared by processes it is the
 * state this process last saw (another process may have moved it since);
 * an open period that has run out still reads 2 until the next attempt
 * moves the breaker to half-open.
 *
 * How outcomes reach the policy: the core calls after_attempt on every
 * policy for every attempt, successes included; a success is also read
 * from on_complete's final attempt, and counted once either way.
 * Probes a request took are held in its req_state and released when the
 * outcome is known, or in on_complete at the latest (cancelled request,
 * a later policy skipping the target), so no probe slot leaks; the store
 * counter also has a TTL of max_open_ms in case a process dies holding
 * one.  after_attempt always answers LR_NEXT_DEFAULT: the breaker only
 * observes, the core or a retry policy decides what comes next.
 *
 * Placement does not matter: every policy observes every outcome, even
 * when an earlier one (a retry policy) decided what comes next, and so
 * do attempts after which the core moves to another key of a pool.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmroute_plugin.h"

static const struct lr_cfg_key keys[] = {
    {"failures", LR_CFG_INT, "5",
     "consecutive counted failures that open the breaker"},
    {"open_ms", LR_CFG_INT, "30000", "first open period in ms"},
    {"max_open_ms", LR_CFG_INT, "300000",
     "cap of the open period, which doubles on repeated trips"},
    {"half_open_probes", LR_CFG_INT, "1",
     "attempts let through at once when half-open"},
    {"window", LR_CFG_INT, "60000", "rolling window of the ratio rule, ms"},
    {"failure_ratio", LR_CFG_DOUBLE, "0",
     "failure ratio in the window that opens the breaker (0: off)"},
    {"min_requests", LR_CFG_INT, "20",
     "attempts in the window before the ratio rule applies"},
    {"count_classes", LR_CFG_LIST,
     "overloaded, server_error, timeout, network",
     "error classes that count as failures"},
};

/* Error classes an attempt can end with, by their contract names. */
static const struct {
    const char *name;
    enum lr_status st;
} classes[] = {
    {"rate_limited", LR_E_RATE_LIMITED},
    {"quota_exhausted", LR_E_QUOTA_EXHAUSTED},
    {"overloaded", LR_E_OVERLOADED},
    {"server_error", LR_E_SERVER_ERROR},
    {"timeout", LR_E_TIMEOUT},
    {"network", LR_E_NETWORK},
    {"auth", LR_E_AUTH},
    {"bad_request", LR_E_BAD_REQUEST},
    {"context_length", LR_E_CONTEXT_LENGTH},
    {"content_filter", LR_E_CONTENT_FILTER},
    {"budget_exceeded", LR_E_BUDGET_EXCEEDED},
    {"rate_limited_local", LR_E_RATE_LIMITED_LOCAL},
    {"no_target", LR_E_NO_TARGET},
    {"cancelled", LR_E_CANCELLED},
    {"protocol", LR_E_PROTOCOL},
};

struct breaker {
    const struct lr_host *host;
    char *name;                 /* section name: the metrics' "NAME/" */
    int64_t failures, open_ms, max_open_ms, probes, window, min_requests;
    double ratio;
    uint32_t counted;           /* bit k set: classes[k] counts */
};

/* Per request: probes taken and not yet released, by target. */
struct req {
    size_t n;
    char *probes[8];            /* more than 8 at once: not held */
    int ok_seen;                /* a success was already recorded */
};

/* The contract name of an attempt's error class ("" when unknown) and
   whether this instance counts it. */
static const char *class_name(enum lr_status st)
{
    for (size_t k = 0; k < sizeof classes / sizeof classes[0]; k++)
        if (classes[k].st == st)
            return classes[k].name;
    return "";
}

static int counts(const struct breaker *b, enum lr_status st)
{
    for (size_t k = 0; k < sizeof classes / sizeof classes[0]; k++)
        if (classes[k].st == st)
            return (b->counted >> k) & 1;
    return 0;
}

enum bstate { CLOSED, OPEN, HALF_OPEN };

/* A target's state as read from the store; raw is kept for cas. */
struct state {
    enum bstate kind;
    int64_t until;              /* wall ms the open period ends */
    int64_t open_ms;            /* length of the current open period */
    int present;                /* a value is stored (even "closed") */
    char raw[96];
};

static const char *state_word(enum bstate s)
{
    return s == OPEN ? "open" : s == HALF_OPEN ? "half_open" : "closed";
}

/* The breaker_state gauge's value of a state. */
static double gauge_value(enum bstate s)
{
    return s == OPEN ? 2 : s == HALF_OPEN ? 1 : 0;
}

/* breaker_state{NAME/TARGET}: per instance, so two breakers with
   different thresholds on one target each keep their own state. */
static void show(const struct breaker *b, const char *target,
                 enum bstate s)
{
    char label[512];
    snprintf(label, sizeof label, "%s/%s", b->name, target);
    b->host->gauge_set(b->host, "breaker_state", label, gauge_value(s));
}

/* The same in log lines, which are for people. */
static const char *log_word(enum bstate s)
{
    return s == HALF_OPEN ? "half-open" : state_word(s);
}

/* "count_classes: ..." errors; 0 when every name is a countable class. */
static int parse_classes(struct breaker *b, const struct lr_section *sec,
                         char *err, size_t errlen)
{
    const char *const *items = NULL;
    size_t n = 0;
    b->host->cfg_list(sec, "count_classes", &items, &n);
    if (n == 0) {
        snprintf(err, errlen, "count_classes: empty: the breaker would "
                 "never open");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (k < sizeof classes / sizeof classes[0] &&
               strcmp(classes[k].name, items[i]) != 0)
            k++;
        if (k == sizeof classes / sizeof classes[0]) {
            snprintf(err, errlen, "count_classes: '%s' is not an error "
                     "class (e.g. overloaded, server_error, timeout, "
                     "network)", items[i]);
            return -1;
        }
        if (classes[k].st == LR_E_BAD_REQUEST ||
            classes[k].st == LR_E_CONTEXT_LENGTH) {
            snprintf(err, errlen, "count_classes: '%s' belongs to the "
                     "request, not the target, and never counts",
                     items[i]);
            return -1;
        }
        b->counted |= UINT32_C(1) << k;
    }
    return 0;
}

/* Longest period or window accepted (about 31 years): keeps wall + open
   period and 2 * window far from overflow. */
#define MAX_MS INT64_C(1000000000000)

/* The first bad number as "KEY: ..." in err, or 0. */
static int check_numbers(const struct breaker *b, char *err, size_t errlen)
{
    const struct {
        const char *key;
        int bad;
        const char *want;
    } rules[] = {
        {"failures", b->failures < 1, "at least 1"},
        {"open_ms", b->open_ms < 1, "at least 1 (ms)"},
        {"max_open_ms", b->max_open_ms < b->open_ms, "at least open_ms"},
        {"max_open_ms", b->max_open_ms > MAX_MS, "at most 1000000000000"},
        {"half_open_probes", b->probes < 1, "at least 1"},
        {"window", b->window < 1, "at least 1 (ms)"},
        {"window", b->window > MAX_MS, "at most 1000000000000"},
        {"min_requests", b->min_requests < 1, "at least 1"},
        {"failure_ratio", !(b->ratio >= 0 && b->ratio <= 1),
         "0 (off) or a ratio up to 1"},
    };
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        if (rules[i].bad) {
            snprintf(err, errlen, "%s: must be %s", rules[i].key,
                     rules[i].want);
            return -1;
        }
    }
    return 0;
}

static int create(const struct lr_section *sec, const struct lr_host *host,
                  void **inst, char *err, size_t errlen)
{
    const char *name = host->section_name(sec);
    if (!name)
        name = "circuit_breaker";
    size_t n = strlen(name) + 1;
    struct breaker *b = calloc(1, sizeof *b + n);
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return LR_E_NOMEM;
    }
    b->name = memcpy(b + 1, name, n);
    b->host = host;
    host->cfg_int(sec, "failures", &b->failures);
    host->cfg_int(sec, "open_ms", &b->open_ms);
    host->cfg_int(sec, "max_open_ms", &b->max_open_ms);
    host->cfg_int(sec, "half_open_probes", &b->probes);
    host->cfg_int(sec, "window", &b->window);
    host->cfg_int(sec, "min_requests", &b->min_requests);
    host->cfg_double(sec, "failure_ratio", &b->ratio);
    if (check_numbers(b, err, errlen) || parse_classes(b, sec, err, errlen)) {
        free(b);
        return LR_E_CONFIG;
    }
    *inst = b;
    return LR_OK;
}

static void destroy(void *inst)
{
    free(inst);
}

/* --- Store access ------------------------------------------------------ */

static void key_of(char *out, size_t len, const char *target,
                   const char *what)
{
    snprintf(out, len, "%s/%s", target, what);
}

static int64_t get_int(const struct breaker *b, const char *key)
{
    struct lr_buf v = {0};
    int64_t n = 0;
    if (b->host->store_get(b->host, key, &v) == LR_OK && v.data)
        n = strtoll(v.data, NULL, 10);
    b->host->buf_free(&v);
    return n;
}

static void load(const struct breaker *b, const char *target,
                 struct state *st)
{
    char key[300], word[16] = "";
    struct lr_buf v = {0};
    memset(st, 0, sizeof *st);
    key_of(key, sizeof key, target, "state");
    if (b->host->store_get(b->host, key, &v) == LR_OK && v.data) {
        snprintf(st->raw, sizeof st->raw, "%s", v.data);
        st->present = 1;
        long long until = 0, ms = 0;
        if (sscanf(st->raw, "%15s %lld %lld", word, &until, &ms) == 3 &&
            strcmp(word, "closed") != 0) {
            st->kind = strcmp(word, "half_open") == 0 ? HALF_OPEN : OPEN;
            st->until = until;
            st->open_ms = ms;
        }
    }
    b->host->buf_free(&v);
    show(b, target, st->kind);
}

/*
 * Replace the state read as *old by *now; 0 when this caller won the race
 * (with a shared store another process may have moved first).  Closed is
 * stored as "closed 0 0" with a TTL, since a missing key means the same.
 */
static int save(const struct breaker *b, const char *target,
                const struct state *old, const struct state *now)
{
    char key[300], val[96];
    const struct lr_host *h = b->host;
    key_of(key, sizeof key, target, "state");
    const char *exp = old->present ? old->raw : NULL;
    size_t explen = exp ? strlen(exp) : 0;
    int n = snprintf(val, sizeof val, "%s %" PRId64 " %" PRId64,
                     state_word(now->kind), now->until, now->open_ms);
    int64_t ttl = now->kind == CLOSED ? b->max_open_ms : 0;
    return h->store_cas(h, key, exp, explen, val, (size_t)n, ttl) == LR_OK
               ? 0 : -1;
}

/* Log and count a transition; why continues "closed -> open ...". */
static void announce(const struct breaker *b, const char *target,
                     enum bstate from, const struct state *to,
                     const char *why)
{
    const struct lr_host *h = b->host;
    char label[600], period[48] = "";
    if (to->kind == OPEN)
        snprintf(period, sizeof period, " for %" PRId64 " ms",
                 to->open_ms);
    h->log(h, LR_LOG_WARN, "target %s: %s -> %s%s%s%s", target,
           log_word(from), log_word(to->kind), period, why[0] ? " " : "",
           why);
    snprintf(label, sizeof label, "%s/%s:%s", b->name, target,
             state_word(to->kind));
    h->counter_add(h, "breaker_transitions", label, 1);
    show(b, target, to->kind);
}

/* --- The rolling window ------------------------------------------------ */

static void bucket_key(char *out, size_t len, const char *target,
                       int64_t bucket, char what)
{
    char sub[64];
    snprintf(sub, sizeof sub, "w/%" PRId64 "/%c", bucket, what);
    key_of(out, len, target, sub);
}

static void window_add(const struct breaker *b, const char *target,
                       int failed)
{
    const struct lr_host *h = b->host;
    char key[300];
    int64_t bucket = h->wall_ms(h) / b->window;
    bucket_key(key, sizeof key, target, bucket, 'n');
    h->store_incr(h, key, 1, 2 * b->window, NULL);
    if (!failed)
        return;
    bucket_key(key, sizeof key, target, bucket, 'f');
    h->store_incr(h, key, 1, 2 * b->window, NULL);
}

/* Estimated attempts (*n) and failures (*f) in the last window ms. */
static void window_read(const struct breaker *b, const char *target,
                        double *n, double *f)
{
    const struct lr_host *h = b->host;
    char key[300];
    int64_t now = h->wall_ms(h), bucket = now / b->window;
    double weight = 1.0 - (double)(now % b->window) / (double)b->window;
    bucket_key(key, sizeof key, target, bucket, 'n');
    *n = (double)get_int(b, key);
    bucket_key(key, sizeof key, target, bucket, 'f');
    *f = (double)get_int(b, key);
    bucket_key(key, sizeof key, target, bucket - 1, 'n');
    *n += weight * (double)get_int(b, key);
    bucket_key(key, sizeof key, target, bucket - 1, 'f');
    *f += weight * (double)get_int(b, key);
}

/* Forget the counters: a closed breaker starts afresh. */
static void forget(const struct breaker *b, const char *target)
{
    const struct lr_host *h = b->host;
    char key[300];
    int64_t bucket = h->wall_ms(h) / b->window;
    key_of(key, sizeof key, target, "consec");
    h->store_del(h, key);
    for (int64_t i = bucket - 1; i <= bucket; i++) {
        bucket_key(key, sizeof key, target, i, 'n');
        h->store_del(h, key);
        bucket_key(key, sizeof key, target, i, 'f');
        h->store_del(h, key);
    }
}

/* --- Probes ------------------------------------------------------------ */

/* Give back one slot of the store's probes-in-flight counter. */
static void probe_drop(const struct breaker *b, const char *target)
{
    const struct lr_host *h = b->host;
    char key[300];
    int64_t n = 0;
    key_of(key, sizeof key, target, "probes");
    if (h->store_incr(h, key, -1, b->max_open_ms, &n) != LR_OK || n <= 0)
        h->store_del(h, key);
}

/* Take a slot; 0 on success, else -1 and the probes already out. */
static int probe_take(const struct breaker *b, const char *target,
                      int64_t *busy)
{
    const struct lr_host *h = b->host;
    char key[300];
    int64_t n = 0;
    key_of(key, sizeof key, target, "probes");
    if (h->store_incr(h, key, 1, b->max_open_ms, &n) != LR_OK) {
        *busy = 0;
        return -1;
    }
    if (n <= b->probes)
        return 0;
    probe_drop(b, target);
    *busy = n - 1;
    return -1;
}

static int holds(const struct req *rq, const char *target)
{
    for (size_t i = 0; rq && i < rq->n; i++)
        if (strcmp(rq->probes[i], target) == 0)
            return (int)i;
    return -1;
}

static int hold(struct req *rq, const char *target)
{
    if (!rq || rq->n == sizeof rq->probes / sizeof rq->probes[0])
        return -1;
    rq->probes[rq->n] = strdup(target);
    return rq->probes[rq->n] ? (int)rq->n++ : -1;
}

/* Release the probe rq holds on target, if any; 1 when it held one. */
static int release(const struct breaker *b, struct req *rq,
                   const char *target)
{
    int i = holds(rq, target);
    if (i < 0)
        return 0;
    probe_drop(b, target);
    free(rq->probes[i]);
    rq->probes[i] = rq->probes[--rq->n];
    return 1;
}

/* --- Transitions ------------------------------------------------------- */

static void trip(const struct breaker *b, const char *target,
                 const struct state *old, int64_t open_ms, const char *why)
{
    const struct lr_host *h = b->host;
    struct state now = {OPEN, h->wall_ms(h) + open_ms, open_ms, 1, ""};
    char key[300];
    if (save(b, target, old, &now) != 0)
        return;
    announce(b, target, old->kind, &now, why);
    key_of(key, sizeof key, target, "consec");
    h->store_del(h, key);
}

static int ratio_tripped(const struct breaker *b, const char *target,
                         char *why, size_t whylen)
{
    double n = 0, f = 0;
    if (b->ratio <= 0)
        return 0;
    window_read(b, target, &n, &f);
    if (n < (double)b->min_requests || f < b->ratio * n)
        return 0;
    snprintf(why, whylen, "after a failure ratio of %.2f over %.0f "
             "attempts in %" PRId64 " ms", f / n, n, b->window);
    return 1;
}

/* A counted failure while closed: count it, maybe trip. */
static void closed_failure(const struct breaker *b, const char *target,
                           const struct state *st)
{
    const struct lr_host *h = b->host;
    char key[300], why[160];
    int64_t consec = 0;
    key_of(key, sizeof key, target, "consec");
    h->store_incr(h, key, 1, 0, &consec);
    if (b->ratio > 0)
        window_add(b, target, 1);
    if (consec >= b->failures)
        snprintf(why, sizeof why, "after %" PRId64 " consecutive failures",
                 consec);
    else if (!ratio_tripped(b, target, why, sizeof why))
        return;
    trip(b, target, st, b->open_ms, why);
}

static void on_failure(const struct breaker *b, struct req *rq,
                       const struct lr_policy_attempt *a)
{
    /* A probe ended either way: its slot is free again. */
    int probe = release(b, rq, a->target);
    if (!counts(b, a->error))
        return;
    struct state st;
    load(b, a->target, &st);
    if (st.kind == CLOSED) {
        closed_failure(b, a->target, &st);
        return;
    }
    if (st.kind != HALF_OPEN || !probe)
        return; /* sent before the trip: already accounted for */
    int64_t ms = st.open_ms > b->max_open_ms / 2 ? b->max_open_ms
                                                : st.open_ms * 2;
    char why[96];
    snprintf(why, sizeof why, "after a failed probe (%s)",
             class_name(a->error));
    trip(b, a->target, &st, ms, why);
}

static void on_success(const struct breaker *b, struct req *rq,
                       const char *target)
{
    const struct lr_host *h = b->host;
    if (rq && rq->ok_seen)
        return;
    if (rq)
        rq->ok_seen = 1;
    int probe = release(b, rq, target);
    struct state st;
    load(b, target, &st);
    if (st.kind == CLOSED) {
        char key[300];
        key_of(key, sizeof key, target, "consec");
        h->store_del(h, key);
        if (b->ratio > 0)
            window_add(b, target, 0);
        return;
    }
    if (st.kind != HALF_OPEN || !probe)
        return; /* only a probe's answer says the target is back */
    struct state now = {CLOSED, 0, 0, 1, ""};
    if (save(b, target, &st, &now) != 0)
        return;
    announce(b, target, HALF_OPEN, &now, "after a successful probe");
    forget(b, target);
}

/* --- Hooks ------------------------------------------------------------- */

/* Per-request scratch for the probes this request holds.  Without memory
   the request goes on without it (it then takes no probes). */
static int on_request(void *inst, const struct lr_policy_req *req,
                      void **req_state, char *msg, size_t msglen,
                      int64_t *retry_after_ms)
{
    (void)inst;
    (void)req;
    (void)msg;
    (void)msglen;
    (void)retry_after_ms; /* the breaker never rejects a request */
    *req_state = calloc(1, sizeof(struct req));
    return LR_OK;
}

static enum lr_verdict admit_probe(const struct breaker *b, struct req *rq,
                                   const char *target, char *reason,
                                   size_t reasonlen)
{
    int64_t busy = 0;
    if (holds(rq, target) >= 0)
        return LR_GO; /* asked again (after a wait): same probe */
    if (probe_take(b, target, &busy) != 0) {
        snprintf(reason, reasonlen, "breaker_half_open (%" PRId64 " of %"
                 PRId64 " probes in flight)", busy, b->probes);
        return LR_SKIP;
    }
    if (hold(rq, target) < 0) {
        probe_drop(b, target);
        snprintf(reason, reasonlen, "breaker_half_open (cannot track a "
                 "probe)");
        return LR_SKIP;
    }
    return LR_GO;
}

static enum lr_verdict before_attempt(void *inst,
                                      const struct lr_policy_req *req,
                                      void *req_state,
                                      const struct lr_policy_attempt *a,
                                      int64_t *wait_ms, char *reason,
                                      size_t reasonlen)
{
    const struct breaker *b = inst;
    const struct lr_host *h = b->host;
    struct state st;
    (void)req;
    (void)wait_ms; /* never waits: an open target is skipped */
    load(b, a->target, &st);
    if (st.kind == CLOSED)
        return LR_GO;
    int64_t left = st.until - h->wall_ms(h);
    if (st.kind == OPEN && left > 0) {
        snprintf(reason, reasonlen, "breaker_open (%" PRId64 " ms left)",
                 left);
        return LR_SKIP;
    }
    if (st.kind == OPEN) {
        struct state half = st;
        char why[64];
        half.kind = HALF_OPEN;
        snprintf(why, sizeof why, "after %" PRId64 " ms open", st.open_ms);
        if (save(b, a->target, &st, &half) == 0)
            announce(b, a->target, OPEN, &half, why);
    }
    return admit_probe(b, req_state, a->target, reason, reasonlen);
}

/* Observe only: the core or a retry policy decides what comes next. */
static enum lr_next after_attempt(void *inst,
                                  const struct lr_policy_req *req,
                                  void *req_state,
                                  const struct lr_policy_attempt *a,
                                  int64_t *delay_ms, char *reason,
                                  size_t reasonlen)
{
    (void)req;
    (void)delay_ms;
    (void)reason;
    (void)reasonlen;
    if (a->error == LR_OK)
        on_success(inst, req_state, a->target);
    else
        on_failure(inst, req_state, a);
    return LR_NEXT_DEFAULT;
}

/* The success of a request's last attempt arrives here (ABI 1.0 reports
   only failures to after_attempt); then probes still held are given
   back. */
static void on_complete(void *inst, const struct lr_policy_req *req,
                        void *req_state,
                        const struct lr_policy_attempt *final_attempt)
{
    const struct breaker *b = inst;
    struct req *rq = req_state;
    (void)req;
    if (final_attempt && final_attempt->error == LR_OK &&
        final_attempt->target)
        on_success(b, rq, final_attempt->target);
    while (rq && rq->n > 0) {
        rq->n--;
        probe_drop(b, rq->probes[rq->n]);
        free(rq->probes[rq->n]);
    }
    free(rq);
}

static const struct lr_policy_ops ops = {
    .keys = keys,
    .n_keys = sizeof keys / sizeof keys[0],
    .on_request = on_request,
    .before_attempt = before_attempt,
    .after_attempt = after_attempt,
    .on_complete = on_complete,
};

static const struct lr_plugin_desc desc = {
    LR_PLUGIN_HEADER,
    .name = "circuit_breaker",
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
