/*
 * fake_host.c - the fake struct lr_host described in fake_host.h.
 *
 * The struct lr_host table is the first member of struct fake_host, so a
 * host function given `const struct lr_host *h` finds its fake by a
 * cast.  Sections and candidate lists are small arrays: tests hold a
 * handful of keys, and linear search keeps the code obviously right.
 */
#include "support/fake_host.h"

#include "buf.h"
#include "cnum.h"
#include "store.h"
#include "timeparse.h"

#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_COUNTERS 64
#define MAX_KEYS 64
#define MAX_LIST 32

#define MAX_TARGETS 16
#define MAX_REQS 128
#define MAX_ATTRS 8

/* What the host functions of 1.1 recorded about one request. */
struct fake_req {
    const struct lr_policy_req *req;    /* NULL: free slot */
    char *attr_key[MAX_ATTRS], *attr_val[MAX_ATTRS];
    int reject_status;                   /* LR_OK: not rejected */
    char *reject_msg;
    int64_t reject_hint;
    char *respond_target;                /* req_respond's target */
    char *respond_text;
    const struct lr_result *result;      /* what req_result returns */
};

struct counter {
    char *name;
    char *label;
    double sum;
};

struct fake_host {
    struct lr_host host; /* first: host functions cast back to this */
    struct lr_buf log;
    int64_t now_ms, wall_ms;
    struct counter counters[MAX_COUNTERS];
    size_t n_counters;
    struct counter gauges[MAX_COUNTERS];  /* sum: the last value set */
    size_t n_gauges;
    struct lr_store *store;   /* NULL: inert store */
    struct lr_clock clock;    /* the fake times, for the store's TTLs */
    const struct lr_section *targets[MAX_TARGETS];
    size_t n_targets;
    struct fake_req reqs[MAX_REQS];
};

struct kv {
    char *key;
    char *value;
    /* cfg_list view of value, rebuilt on each call */
    char *list_copy;
    const char *items[MAX_LIST];
};

struct lr_section {
    char *name;
    struct kv kv[MAX_KEYS];
    size_t n;
    const struct lr_cfg_key *keys;
    size_t n_keys;
};

struct lr_candidates {
    char **names;
    size_t n;
};

static char *xstrdup(const char *s)
{
    char *p = strdup(s ? s : "");
    if (!p) {
        fprintf(stderr, "fake_host: out of memory\n");
        abort();
    }
    return p;
}

static struct fake_host *from_host(const struct lr_host *h)
{
    return (struct fake_host *)(void *)h;
}

/* --- Log, clock, counters --------------------------------------------- */

static void fake_log(const struct lr_host *h, enum lr_log_level level,
                     const char *fmt, ...) LR_PRINTF(3, 4);

static void fake_log(const struct lr_host *h, enum lr_log_level level,
                     const char *fmt, ...)
{
    static const char *const names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
    struct fake_host *fh = from_host(h);
    size_t start = fh->log.len;
    va_list ap;

    lr_buf_printf(&fh->log, "%s: ",
                  (unsigned)level < 4 ? names[level] : "?");
    va_start(ap, fmt);
    lr_buf_vprintf(&fh->log, fmt, ap);
    va_end(ap);
    lr_buf_append(&fh->log, "\n", 1);
    if (getenv("FAKE_HOST_VERBOSE"))
        fprintf(stderr, "[fake_host] %s", fh->log.data + start);
}

static int64_t fake_now(const struct lr_host *h)
{
    return from_host(h)->now_ms;
}

static int64_t fake_wall(const struct lr_host *h)
{
    return from_host(h)->wall_ms;
}

static int same_label(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static void fake_counter_add(const struct lr_host *h, const char *name,
                             const char *label, double v)
{
    struct fake_host *fh = from_host(h);
    for (size_t i = 0; i < fh->n_counters; i++) {
        struct counter *c = &fh->counters[i];
        if (strcmp(c->name, name) == 0 && same_label(c->label, label)) {
            c->sum += v;
            return;
        }
    }
    if (fh->n_counters == MAX_COUNTERS)
        return;
    struct counter *c = &fh->counters[fh->n_counters++];
    c->name = xstrdup(name);
    c->label = label ? xstrdup(label) : NULL;
    c->sum = v;
}

static void fake_gauge_set(const struct lr_host *h, const char *name,
                           const char *label, double v)
{
    struct fake_host *fh = from_host(h);
    for (size_t i = 0; i < fh->n_gauges; i++) {
        struct counter *g = &fh->gauges[i];
        if (strcmp(g->name, name) == 0 && same_label(g->label, label)) {
            g->sum = v;
            return;
        }
    }
    if (fh->n_gauges == MAX_COUNTERS)
        return;
    struct counter *g = &fh->gauges[fh->n_gauges++];
    g->name = xstrdup(name);
    g->label = label ? xstrdup(label) : NULL;
    g->sum = v;
}

/* --- Store: inert, or a real memory store on the fake clock ----------- */

static struct lr_store *real(const struct lr_host *h)
{
    return ((const struct fake_host *)h)->store;
}

static int store_get(const struct lr_host *h, const char *key,
                     struct lr_buf *out)
{
    struct lr_store *s = real(h);
    return s ? s->ops->get(s, key, out) : LR_E_NOT_FOUND;
}

static int store_set(const struct lr_host *h, const char *key,
                     const void *val, size_t len, int64_t ttl_ms)
{
    struct lr_store *s = real(h);
    return s ? s->ops->set(s, key, val, len, ttl_ms) : LR_OK;
}

static int store_incr(const struct lr_host *h, const char *key,
                      int64_t delta, int64_t ttl_ms, int64_t *out)
{
    struct lr_store *s = real(h);
    if (s)
        return s->ops->incr(s, key, delta, ttl_ms, out);
    if (out)
        *out = delta;
    return LR_OK;
}

static int store_cas(const struct lr_host *h, const char *key,
                     const void *expect, size_t expect_len,
                     const void *val, size_t len, int64_t ttl_ms)
{
    struct lr_store *s = real(h);
    if (s)
        return s->ops->cas(s, key, expect, expect_len, val, len, ttl_ms);
    return expect ? LR_STORE_CAS_MISMATCH : LR_OK;
}

static int store_del(const struct lr_host *h, const char *key)
{
    struct lr_store *s = real(h);
    return s ? s->ops->del(s, key) : LR_OK;
}

static int64_t clock_now(void *ctx)
{
    return ((struct fake_host *)ctx)->now_ms;
}

static int64_t clock_wall(void *ctx)
{
    return ((struct fake_host *)ctx)->wall_ms;
}

int fake_host_use_memory_store(struct fake_host *fh)
{
    if (fh->store)
        return 0;
    fh->clock.now_ms = clock_now;
    fh->clock.wall_ms = clock_wall;
    fh->clock.ctx = fh;
    fh->store = lr_store_memory_new(&fh->clock);
    return fh->store ? 0 : -1;
}

struct lr_store *fake_host_store(struct fake_host *fh)
{
    return fh->store;
}

/* --- Config getters ------------------------------------------------ */

static struct kv *find_kv(const struct lr_section *s, const char *key)
{
    for (size_t i = 0; s && i < s->n; i++) {
        if (strcmp(s->kv[i].key, key) == 0)
            return (struct kv *)&s->kv[i];
    }
    return NULL;
}

/* The raw text of key: set value, else the key table's default. */
static const char *raw_value(const struct lr_section *s, const char *key)
{
    const struct kv *kv = find_kv(s, key);
    if (kv)
        return kv->value;
    for (size_t i = 0; s && i < s->n_keys; i++) {
        if (strcmp(s->keys[i].key, key) == 0)
            return s->keys[i].def;
    }
    return NULL;
}

static int cfg_str(const struct lr_section *s, const char *key,
                   const char **out)
{
    const char *v = raw_value(s, key);
    if (!v)
        return LR_E_NOT_FOUND;
    *out = v;
    return LR_OK;
}

static int cfg_int(const struct lr_section *s, const char *key,
                   int64_t *out)
{
    const char *v = raw_value(s, key);
    char *end;
    if (!v)
        return LR_E_NOT_FOUND;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (end == v || *end || errno)
        return LR_E_CONFIG;
    *out = n;
    return LR_OK;
}

static int cfg_double(const struct lr_section *s, const char *key,
                      double *out)
{
    const char *v = raw_value(s, key);
    char *end;
    if (!v)
        return LR_E_NOT_FOUND;
    errno = 0;
    double d = lr_cnum_strtod(v, &end);   /* as the core reads it */
    if (end == v || *end || errno || !isfinite(d))
        return LR_E_CONFIG;
    *out = d;
    return LR_OK;
}

static int cfg_bool(const struct lr_section *s, const char *key, int *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    const char *v = raw_value(s, key);
    if (!v)
        return LR_E_NOT_FOUND;
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0 || strcasecmp(v, no[i]) == 0) {
            *out = strcasecmp(v, yes[i]) == 0;
            return LR_OK;
        }
    }
    return LR_E_CONFIG;
}

/* Comma-separated names, trimmed, empty items dropped. */
static size_t split_list(char *text, const char **items)
{
    size_t n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(text, ",", &save); tok && n < MAX_LIST;
         tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        char *e = tok + strlen(tok);
        while (e > tok && (e[-1] == ' ' || e[-1] == '\t'))
            *--e = '\0';
        if (*tok)
            items[n++] = tok;
    }
    return n;
}

static int cfg_list(const struct lr_section *s, const char *key,
                    const char *const **items, size_t *n)
{
    struct kv *kv = find_kv(s, key);
    const char *v = raw_value(s, key);
    if (!v)
        return LR_E_NOT_FOUND;
    if (!kv) {
        /* a default: materialise it so the view has storage */
        fake_section_set((struct lr_section *)s, key, v);
        kv = find_kv(s, key);
    }
    free(kv->list_copy);
    kv->list_copy = xstrdup(kv->value);
    *n = split_list(kv->list_copy, kv->items);
    *items = kv->items;
    return LR_OK;
}

static const char *section_name(const struct lr_section *s)
{
    return s ? s->name : "";
}

/* --- Candidates ------------------------------------------------------ */

static size_t cand_count(const struct lr_candidates *c)
{
    return c ? c->n : 0;
}

static const char *cand_get(const struct lr_candidates *c, size_t i)
{
    return c && i < c->n ? c->names[i] : NULL;
}

static int cand_set(struct lr_candidates *c, const char *const *targets,
                    size_t n)
{
    char **names = calloc(n ? n : 1, sizeof *names);
    if (!names)
        return LR_E_NOMEM;
    for (size_t i = 0; i < n; i++)
        names[i] = xstrdup(targets[i]);
    for (size_t i = 0; i < c->n; i++)
        free(c->names[i]);
    free(c->names);
    c->names = names;
    c->n = n;
    return LR_OK;
}

struct lr_candidates *fake_cands_new(const char *const *names, size_t n)
{
    struct lr_candidates *c = calloc(1, sizeof *c);
    if (c && cand_set(c, names, n) != LR_OK) {
        free(c);
        return NULL;
    }
    return c;
}

void fake_cands_free(struct lr_candidates *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        free(c->names[i]);
    free(c->names);
    free(c);
}

/* --- Targets and per-request state (1.1) ------------------------------- */

static const struct lr_section *host_target_section(const struct lr_host *h,
                                                    const char *name)
{
    struct fake_host *fh = from_host(h);
    for (size_t i = 0; i < fh->n_targets; i++)
        if (strcmp(fh->targets[i]->name, name) == 0)
            return fh->targets[i];
    return NULL;
}

void fake_host_add_target(struct fake_host *fh, const struct lr_section *s)
{
    if (fh->n_targets == MAX_TARGETS) {
        fprintf(stderr, "fake_host: too many targets\n");
        abort();
    }
    fh->targets[fh->n_targets++] = s;
}

static void req_clear(struct fake_req *r)
{
    for (size_t i = 0; i < MAX_ATTRS; i++) {
        free(r->attr_key[i]);
        free(r->attr_val[i]);
    }
    free(r->reject_msg);
    free(r->respond_target);
    free(r->respond_text);
    memset(r, 0, sizeof *r);
}

/* The slot of req; a new one when create is set (abort when full). */
static struct fake_req *req_slot(struct fake_host *fh,
                                 const struct lr_policy_req *req, int create)
{
    struct fake_req *empty = NULL;
    for (size_t i = 0; i < MAX_REQS; i++) {
        if (fh->reqs[i].req == req)
            return &fh->reqs[i];
        if (!fh->reqs[i].req && !empty)
            empty = &fh->reqs[i];
    }
    if (!create)
        return NULL;
    if (!empty) {
        fprintf(stderr, "fake_host: more than %d live requests; call "
                "fake_req_forget()\n", MAX_REQS);
        abort();
    }
    empty->req = req;
    empty->reject_hint = -1;
    return empty;
}

static const char *req_get(const struct lr_host *h,
                           const struct lr_policy_req *req, const char *key)
{
    struct fake_req *r = req_slot(from_host(h), req, 0);
    for (size_t i = 0; r && i < MAX_ATTRS; i++)
        if (r->attr_key[i] && strcmp(r->attr_key[i], key) == 0)
            return r->attr_val[i];
    return NULL;
}

static int req_set(const struct lr_host *h, const struct lr_policy_req *req,
                   const char *key, const char *value)
{
    struct fake_req *r = req_slot(from_host(h), req, 1);
    size_t free_i = MAX_ATTRS;
    for (size_t i = 0; i < MAX_ATTRS; i++) {
        if (r->attr_key[i] && strcmp(r->attr_key[i], key) == 0) {
            free(r->attr_val[i]);
            r->attr_val[i] = value ? xstrdup(value) : NULL;
            if (!value) {
                free(r->attr_key[i]);
                r->attr_key[i] = NULL;
            }
            return LR_OK;
        }
        if (!r->attr_key[i] && free_i == MAX_ATTRS)
            free_i = i;
    }
    if (!value)
        return LR_OK;
    if (free_i == MAX_ATTRS)
        return LR_E_NOMEM;
    r->attr_key[free_i] = xstrdup(key);
    r->attr_val[free_i] = xstrdup(value);
    return LR_OK;
}

static int req_reject(const struct lr_host *h,
                      const struct lr_policy_req *req, enum lr_status st,
                      const char *msg, int64_t retry_after_ms)
{
    struct fake_req *r = req_slot(from_host(h), req, 1);
    r->reject_status = (int)st;
    free(r->reject_msg);
    r->reject_msg = xstrdup(msg);
    r->reject_hint = retry_after_ms;
    return LR_OK;
}

static int req_respond(const struct lr_host *h,
                       const struct lr_policy_req *req, const char *target,
                       const struct lr_result *res)
{
    struct fake_req *r = req_slot(from_host(h), req, 1);
    free(r->respond_target);
    free(r->respond_text);
    r->respond_target = xstrdup(target);
    r->respond_text = xstrdup(res->text.data ? res->text.data : "");
    return LR_OK;
}

static const struct lr_result *req_result(const struct lr_host *h,
                                          const struct lr_policy_req *req)
{
    struct fake_req *r = req_slot(from_host(h), req, 0);
    return r ? r->result : NULL;
}

int fake_req_rejected(struct fake_host *fh, const struct lr_policy_req *req,
                      const char **msg, int64_t *hint)
{
    struct fake_req *r = req_slot(fh, req, 0);
    if (msg)
        *msg = r && r->reject_msg ? r->reject_msg : "";
    if (hint)
        *hint = r ? r->reject_hint : -1;
    return r ? r->reject_status : LR_OK;
}

const char *fake_req_responded(struct fake_host *fh,
                               const struct lr_policy_req *req,
                               const char **text)
{
    struct fake_req *r = req_slot(fh, req, 0);
    if (text)
        *text = r && r->respond_text ? r->respond_text : "";
    return r ? r->respond_target : NULL;
}

void fake_req_set_result(struct fake_host *fh,
                         const struct lr_policy_req *req,
                         const struct lr_result *res)
{
    req_slot(fh, req, 1)->result = res;
}

void fake_req_forget(struct fake_host *fh, const struct lr_policy_req *req)
{
    struct fake_req *r = req_slot(fh, req, 0);
    if (r)
        req_clear(r);
}

/* --- The host ------------------------------------------------------------- */

static int host_buf_append(struct lr_buf *b, const void *data, size_t len)
{
    return lr_buf_append(b, data, len);
}

static int host_buf_printf(struct lr_buf *b, const char *fmt, ...)
    LR_PRINTF(2, 3);

static int host_buf_printf(struct lr_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = lr_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

static void host_buf_reset(struct lr_buf *b)
{
    lr_buf_reset(b);
}

static const struct lr_host host_template = {
    .struct_size = (uint32_t)sizeof(struct lr_host),
    .abi_major = LR_PLUGIN_ABI_MAJOR,
    .abi_minor = LR_PLUGIN_ABI_MINOR,
    .log = fake_log,
    .now_ms = fake_now,
    .wall_ms = fake_wall,
    .cfg_str = cfg_str,
    .cfg_int = cfg_int,
    .cfg_double = cfg_double,
    .cfg_bool = cfg_bool,
    .cfg_list = cfg_list,
    .section_name = section_name,
    .buf_append = host_buf_append,
    .buf_printf = host_buf_printf,
    .buf_reset = host_buf_reset,
    .buf_free = lr_buf_free,
    .store_get = store_get,
    .store_set = store_set,
    .store_incr = store_incr,
    .store_cas = store_cas,
    .store_del = store_del,
    .counter_add = fake_counter_add,
    .parse_duration_ms = lr_parse_duration_ms,
    .parse_time_ms = lr_parse_time_ms,
    .cand_count = cand_count,
    .cand_get = cand_get,
    .cand_set = cand_set,
    .target_section = host_target_section,
    .req_get = req_get,
    .req_set = req_set,
    .req_reject = req_reject,
    .req_respond = req_respond,
    .req_result = req_result,
    .gauge_set = fake_gauge_set,
};

struct fake_host *fake_host_new(void)
{
    struct fake_host *fh = calloc(1, sizeof *fh);
    if (fh)
        fh->host = host_template;
    return fh;
}

void fake_host_free(struct fake_host *fh)
{
    if (!fh)
        return;
    for (size_t i = 0; i < fh->n_counters; i++) {
        free(fh->counters[i].name);
        free(fh->counters[i].label);
    }
    for (size_t i = 0; i < fh->n_gauges; i++) {
        free(fh->gauges[i].name);
        free(fh->gauges[i].label);
    }
    lr_buf_free(&fh->log);
    for (size_t i = 0; i < MAX_REQS; i++)
        req_clear(&fh->reqs[i]);
    if (fh->store)
        lr_store_close(fh->store);
    free(fh);
}

const struct lr_host *fake_host_table(struct fake_host *fh)
{
    return &fh->host;
}

void fake_host_set_time(struct fake_host *fh, int64_t now_ms,
                        int64_t wall_ms)
{
    fh->now_ms = now_ms;
    fh->wall_ms = wall_ms;
}

void fake_host_advance(struct fake_host *fh, int64_t ms)
{
    fh->now_ms += ms;
    fh->wall_ms += ms;
}

const char *fake_host_log(const struct fake_host *fh)
{
    return lr_buf_str(&fh->log);
}

int fake_host_log_contains(const struct fake_host *fh, const char *needle)
{
    return strstr(lr_buf_str(&fh->log), needle) != NULL;
}

void fake_host_log_clear(struct fake_host *fh)
{
    lr_buf_reset(&fh->log);
}

double fake_host_counter(const struct fake_host *fh, const char *name,
                         const char *label)
{
    for (size_t i = 0; i < fh->n_counters; i++) {
        const struct counter *c = &fh->counters[i];
        if (strcmp(c->name, name) == 0 && same_label(c->label, label))
            return c->sum;
    }
    return 0;
}

int fake_host_gauge(const struct fake_host *fh, const char *name,
                    const char *label, double *out)
{
    for (size_t i = 0; i < fh->n_gauges; i++) {
        const struct counter *g = &fh->gauges[i];
        if (strcmp(g->name, name) == 0 && same_label(g->label, label)) {
            *out = g->sum;
            return 1;
        }
    }
    return 0;
}

/* --- Sections ------------------------------------------------------- */

struct lr_section *fake_section_new(const char *name)
{
    struct lr_section *s = calloc(1, sizeof *s);
    if (s)
        s->name = xstrdup(name);
    return s;
}

static void kv_clear(struct kv *kv)
{
    free(kv->key);
    free(kv->value);
    free(kv->list_copy);
    memset(kv, 0, sizeof *kv);
}

void fake_section_free(struct lr_section *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        kv_clear(&s->kv[i]);
    free(s->name);
    free(s);
}

void fake_section_set(struct lr_section *s, const char *key,
                      const char *value)
{
    struct kv *kv = find_kv(s, key);
    if (kv && !value) {
        kv_clear(kv);
        *kv = s->kv[--s->n];
        memset(&s->kv[s->n], 0, sizeof s->kv[s->n]);
        return;
    }
    if (!value)
        return;
    if (kv) {
        free(kv->value);
        kv->value = xstrdup(value);
        return;
    }
    if (s->n == MAX_KEYS) {
        fprintf(stderr, "fake_section_set: more than %d keys\n", MAX_KEYS);
        abort();
    }
    kv = &s->kv[s->n++];
    kv->key = xstrdup(key);
    kv->value = xstrdup(value);
}

void fake_section_set_keys(struct lr_section *s,
                           const struct lr_cfg_key *keys, size_t n)
{
    s->keys = keys;
    s->n_keys = n;
}

/* --- Core-owned buffers ---------------------------------------------- */

void fake_buf_free(struct lr_buf *b)
{
    lr_buf_free(b);
}

void fake_result_init(struct lr_result *r)
{
    memset(r, 0, sizeof *r);
    r->rl_remaining_requests = r->rl_remaining_tokens = -1;
    r->rl_reset_requests_ms = r->rl_reset_tokens_ms = -1;
}

void fake_result_free(struct lr_result *r)
{
    lr_buf_free(&r->error_message);
    lr_buf_free(&r->text);
    lr_buf_free(&r->tool_calls_json);
    lr_buf_free(&r->model);
    lr_buf_free(&r->request_id);
}

void fake_request_init(struct lr_http_request *rq)
{
    memset(rq, 0, sizeof *rq);
}

void fake_request_free(struct lr_http_request *rq)
{
    lr_buf_free(&rq->url);
    lr_buf_free(&rq->headers);
    lr_buf_free(&rq->body);
}

/* --- Loading plugins and data ------------------------------------------ */

const struct lr_plugin_desc *fake_plugin_open(const char *name,
                                              void **handle)
{
    const char *dir = getenv("LLMROUTE_TEST_BUILD");
    char path[1024];
    snprintf(path, sizeof path, "%s/plugins/%s.so",
             dir && *dir ? dir : "build", name);
    *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!*handle) {
        fprintf(stderr, "fake_plugin_open: %s\n", dlerror());
        return NULL;
    }
    lr_plugin_entry_fn entry;
    void *sym = dlsym(*handle, LR_PLUGIN_ENTRY_SYMBOL);
    memcpy(&entry, &sym, sizeof entry); /* object to function pointer */
    if (!entry) {
        fprintf(stderr, "fake_plugin_open: %s: no entry\n", path);
        dlclose(*handle);
        *handle = NULL;
        return NULL;
    }
    return entry();
}

void fake_plugin_close(void *handle)
{
    if (handle)
        dlclose(handle);
}

char *fake_read_file(const char *rel, size_t *len)
{
    const char *dir = getenv("LLMROUTE_TEST_DATA");
    char path[1024];
    struct lr_buf b = {0};
    char chunk[4096];
    size_t n;

    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "tests/data",
             rel);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fake_read_file: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        lr_buf_append(&b, chunk, n);
    fclose(f);
    if (len)
        *len = b.len;
    return lr_buf_steal(&b);
}
