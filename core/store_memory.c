/*
 * store_memory.c - the in-process store backend: an open-addressing hash
 * table behind one mutex.  Semantics are those of store.h.
 *
 * Why this shape.  Policies touch a handful of keys per request, so one
 * mutex is uncontended in practice and makes incr and cas atomic for
 * free.  Linear probing over a slot array that caches each key's hash
 * keeps a lookup to a cache line or two, and deletion shifts the entries
 * that follow back into the hole instead of leaving tombstones, so a
 * table under endless set/expire churn never silts up with dead slots.
 * Keys can carry end-user ids (per-user limits), so the hash is
 * SipHash-1-3 under a per-store random key: nobody can precompute keys
 * that all collide.
 *
 * Expiry.  An expired entry is invisible: a lookup that meets it treats
 * the key as missing and frees the entry on the spot.  Entries nobody
 * asks for again are reclaimed two ways: every write also examines
 * SWEEP_STEP slots at a cursor that walks round the table (so within
 * cap / SWEEP_STEP writes every slot has been seen), and before the
 * table grows a full sweep runs, growing only if too few entries died.
 * The table halves when it falls under 1/8 full.  Memory thus follows
 * the live keys, not every key ever written.
 *
 * Invariants (under mu): cap is a power of two >= MIN_CAP; count is the
 * number of non-NULL slots and stays under 3/4 of cap, so every probe
 * meets an empty slot; each entry sits in the run that starts at its
 * home slot (hash & (cap - 1)) with no empty slot in between.
 */
#include "store.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "buf.h"

#define MIN_CAP 16
#define SWEEP_STEP 4
#define MIN_VAL_CAP 24          /* any int64 in decimal, plus the NUL */
#define NOT_FOUND SIZE_MAX
#define NEVER INT64_MAX         /* expires_at of a key without TTL */

struct entry {
    int64_t expires_at;         /* wall ms; NEVER: no TTL */
    char *val;                  /* NUL-terminated, for the incr parser */
    size_t len;
    size_t cap;
    size_t klen;
    char key[];                 /* NUL-terminated */
};

struct slot {
    uint64_t hash;
    struct entry *e;            /* NULL: empty */
};

struct mem_store {
    struct lr_store base;       /* first: this is the generic handle */
    pthread_mutex_t mu;
    struct slot *slots;
    size_t cap;
    size_t count;               /* entries held, expired ones included */
    size_t cursor;              /* next slot the incremental sweep sees */
    uint64_t k0, k1;            /* SipHash key */
};

static const struct lr_store_backend mem_ops;

/* --- SipHash-1-3 (Aumasson & Bernstein) ------------------------------ */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static void sip_round(uint64_t v[4])
{
    v[0] += v[1];
    v[1] = ROTL(v[1], 13) ^ v[0];
    v[0] = ROTL(v[0], 32);
    v[2] += v[3];
    v[3] = ROTL(v[3], 16) ^ v[2];
    v[0] += v[3];
    v[3] = ROTL(v[3], 21) ^ v[0];
    v[2] += v[1];
    v[1] = ROTL(v[1], 17) ^ v[2];
    v[2] = ROTL(v[2], 32);
}

static uint64_t load_le64(const unsigned char *p, size_t n)
{
    uint64_t x = 0;
    for (size_t i = n; i > 0; i--)
        x = x << 8 | p[i - 1];
    return x;
}

static uint64_t siphash13(uint64_t k0, uint64_t k1, const void *data,
                          size_t len)
{
    const unsigned char *p = data;
    uint64_t v[4] = {
        k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL,
        k0 ^ 0x6c7967656e657261ULL, k1 ^ 0x7465646279746573ULL,
    };
    size_t whole = len & ~(size_t)7;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = load_le64(p + i, 8);
        v[3] ^= m;
        sip_round(v);
        v[0] ^= m;
    }
    uint64_t last = (uint64_t)len << 56 | load_le64(p + whole, len & 7);
    v[3] ^= last;
    sip_round(v);
    v[0] ^= last;
    v[2] ^= 0xff;
    sip_round(v);
    sip_round(v);
    sip_round(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* getrandom() never fails this early on a normal system; if it does,
   time and addresses still give a key an attacker cannot read. */
static void seed_hash(struct mem_store *ms)
{
    uint64_t k[2];
    if (getrandom(k, sizeof k, GRND_NONBLOCK) != (ssize_t)sizeof k) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        k[0] = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 30;
        k[1] = (uint64_t)(uintptr_t)ms ^ (uint64_t)(uintptr_t)&k;
        k[0] = siphash13(k[0], k[1], &ts, sizeof ts);
    }
    ms->k0 = k[0];
    ms->k1 = k[1];
}

/* --- Entries ---------------------------------------------------------- */

static struct entry *entry_new(const char *key, size_t klen)
{
    if (klen > SIZE_MAX - sizeof(struct entry) - 1)
        return NULL;
    struct entry *e = malloc(sizeof *e + klen + 1);
    if (!e)
        return NULL;
    memcpy(e->key, key, klen + 1);
    e->klen = klen;
    e->val = NULL;
    e->len = e->cap = 0;
    e->expires_at = NEVER;
    return e;
}

static void entry_free(struct entry *e)
{
    free(e->val);
    free(e);
}

/* Replace the value, reusing its memory unless it would waste most of
   it; on LR_E_NOMEM the old value is untouched. */
static int entry_set_value(struct entry *e, const void *val, size_t len)
{
    if (len == SIZE_MAX)
        return LR_E_NOMEM;
    if (len >= e->cap || (e->cap > 256 && e->cap / 4 > len)) {
        size_t cap = len + 1 < MIN_VAL_CAP ? MIN_VAL_CAP : len + 1;
        char *nv = malloc(cap);
        if (!nv)
            return LR_E_NOMEM;
        free(e->val);
        e->val = nv;
        e->cap = cap;
    }
    if (len)
        memcpy(e->val, val, len);
    e->val[len] = '\0';
    e->len = len;
    return LR_OK;
}

static int is_expired(const struct entry *e, int64_t now)
{
    return e->expires_at != NEVER && now >= e->expires_at;
}

static int64_t expiry(int64_t now, int64_t ttl_ms)
{
    if (ttl_ms == 0)
        return NEVER;
    if (now > 0 && ttl_ms > INT64_MAX - now)
        return NEVER - 1;
    return now + ttl_ms;
}

/* --- The table ------------------------------------------------------- */

static size_t find(const struct mem_store *ms, const char *key, size_t klen,
                   uint64_t h)
{
    size_t mask = ms->cap - 1;
    for (size_t i = h & mask; ms->slots[i].e; i = (i + 1) & mask) {
        const struct entry *e = ms->slots[i].e;
        if (ms->slots[i].hash == h && e->klen == klen &&
            memcmp(e->key, key, klen) == 0)
            return i;
    }
    return NOT_FOUND;
}

/* Free the entry at hole, then pull back every later entry of the run
   that may legally sit there, keeping the run unbroken. */
static void remove_at(struct mem_store *ms, size_t hole)
{
    size_t mask = ms->cap - 1;
    entry_free(ms->slots[hole].e);
    ms->slots[hole].e = NULL;
    ms->count--;
    for (size_t j = (hole + 1) & mask; ms->slots[j].e; j = (j + 1) & mask) {
        size_t home = ms->slots[j].hash & mask;
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            ms->slots[hole] = ms->slots[j];
            ms->slots[j].e = NULL;
            hole = j;
        }
    }
}

static void place(struct slot *slots, size_t cap, struct slot s)
{
    size_t i = s.hash & (cap - 1);
    while (slots[i].e)
        i = (i + 1) & (cap - 1);
    slots[i] = s;
}

static int rehash(struct mem_store *ms, size_t cap)
{
    struct slot *ns = calloc(cap, sizeof *ns);
    if (!ns)
        return LR_E_NOMEM;
    for (size_t i = 0; i < ms->cap; i++) {
        if (ms->slots[i].e)
            place(ns, cap, ms->slots[i]);
    }
    free(ms->slots);
    ms->slots = ns;
    ms->cap = cap;
    ms->cursor = 0;
    return LR_OK;
}

/* A failed shrink is harmless: the table just stays larger. */
static void maybe_shrink(struct mem_store *ms)
{
    if (ms->cap > MIN_CAP && ms->count < ms->cap / 8)
        (void)rehash(ms, ms->cap / 2);
}

/* Removing at i may pull a later entry into i, so i is looked at again
   before moving on; every entry is still seen once per pass. */
static void sweep_all(struct mem_store *ms, int64_t now)
{
    size_t i = 0;
    while (i < ms->cap) {
        struct entry *e = ms->slots[i].e;
        if (e && is_expired(e, now))
            remove_at(ms, i);
        else
            i++;
    }
}

static void sweep_step(struct mem_store *ms, int64_t now)
{
    size_t removed = 0;
    for (int k = 0; k < SWEEP_STEP; k++) {
        size_t i = ms->cursor & (ms->cap - 1);
        struct entry *e = ms->slots[i].e;
        if (e && is_expired(e, now)) {
            remove_at(ms, i);
            removed++;
        }
        else {
            ms->cursor = i + 1;
        }
    }
    if (removed)
        maybe_shrink(ms);
}

/* Room for one more entry.  A full sweep comes first; growing anyway
   when it leaves the table over half full keeps full sweeps rare. */
static int make_room(struct mem_store *ms, int64_t now)
{
    if ((ms->count + 1) * 4 <= ms->cap * 3)
        return LR_OK;
    sweep_all(ms, now);
    if ((ms->count + 1) * 2 <= ms->cap)
        return LR_OK;
    if (ms->cap > SIZE_MAX / 2 / sizeof(struct slot))
        return LR_E_NOMEM;
    return rehash(ms, ms->cap * 2);
}

/* The slot of key's live entry, or NOT_FOUND; an expired one is freed. */
static size_t lookup(struct mem_store *ms, const char *key, size_t klen,
                     uint64_t h, int64_t now)
{
    size_t i = find(ms, key, klen, h);
    if (i != NOT_FOUND && is_expired(ms->slots[i].e, now)) {
        remove_at(ms, i);
        return NOT_FOUND;
    }
    return i;
}

static int insert(struct mem_store *ms, const char *key, size_t klen,
                  uint64_t h, int64_t now, const void *val, size_t len,
                  int64_t expires_at)
{
    if (make_room(ms, now) != LR_OK)
        return LR_E_NOMEM;
    struct entry *e = entry_new(key, klen);
    if (!e)
        return LR_E_NOMEM;
    if (entry_set_value(e, val, len) != LR_OK) {
        free(e);
        return LR_E_NOMEM;
    }
    e->expires_at = expires_at;
    place(ms->slots, ms->cap, (struct slot){ h, e });
    ms->count++;
    return LR_OK;
}

/* --- Operations ------------------------------------------------------- */

/* What every operation does first: check, hash, read the clock, lock. */
struct op {
    struct mem_store *ms;
    const char *key;
    size_t klen;
    uint64_t hash;
    int64_t now;
};

static struct op op_begin(struct lr_store *s, const char *key, int write)
{
    struct mem_store *ms = (struct mem_store *)s;
    struct op o = { ms, key, strlen(key), 0, lr_clock_wall(s->clock) };
    o.hash = siphash13(ms->k0, ms->k1, key, o.klen);
    pthread_mutex_lock(&ms->mu);
    if (write)
        sweep_step(ms, o.now);
    return o;
}

static int op_end(struct op *o, int rc)
{
    pthread_mutex_unlock(&o->ms->mu);
    return rc;
}

static int mem_get(struct lr_store *s, const char *key, struct lr_buf *out)
{
    if (!key || !out)
        return LR_E_INVALID_ARG;
    struct op o = op_begin(s, key, 0);
    size_t i = lookup(o.ms, key, o.klen, o.hash, o.now);
    if (i == NOT_FOUND)
        return op_end(&o, LR_E_NOT_FOUND);
    const struct entry *e = o.ms->slots[i].e;
    return op_end(&o, lr_buf_append(out, e->val, e->len));
}

/* Write val with a fresh expiry, creating the key if needed. */
static int put(struct op *o, const void *val, size_t len, int64_t ttl_ms)
{
    struct mem_store *ms = o->ms;
    size_t i = lookup(ms, o->key, o->klen, o->hash, o->now);
    if (i == NOT_FOUND)
        return insert(ms, o->key, o->klen, o->hash, o->now, val, len,
                      expiry(o->now, ttl_ms));
    struct entry *e = ms->slots[i].e;
    int rc = entry_set_value(e, val, len);
    if (rc == LR_OK)
        e->expires_at = expiry(o->now, ttl_ms);
    return rc;
}

static int mem_set(struct lr_store *s, const char *key, const void *val,
                   size_t len, int64_t ttl_ms)
{
    if (!key || (!val && len) || ttl_ms < 0)
        return LR_E_INVALID_ARG;
    struct op o = op_begin(s, key, 1);
    return op_end(&o, put(&o, val, len, ttl_ms));
}

static int do_incr(struct op *o, int64_t delta, int64_t ttl_ms,
                   int64_t *out)
{
    char num[MIN_VAL_CAP];
    int64_t v = 0;
    size_t i = lookup(o->ms, o->key, o->klen, o->hash, o->now);
    struct entry *e = i == NOT_FOUND ? NULL : o->ms->slots[i].e;
    if (e && lr_store_parse_int(e->val, e->len, &v) != LR_OK)
        return LR_E_INVALID_ARG;
    if (lr_store_add(v, delta, &v) != LR_OK)
        return LR_E_INVALID_ARG;
    size_t n = (size_t)snprintf(num, sizeof num, "%" PRId64, v);
    int rc = e ? entry_set_value(e, num, n)
               : insert(o->ms, o->key, o->klen, o->hash, o->now, num, n,
                        expiry(o->now, ttl_ms));
    if (rc == LR_OK && out)
        *out = v;
    return rc;
}

static int mem_incr(struct lr_store *s, const char *key, int64_t delta,
                    int64_t ttl_ms, int64_t *out)
{
    if (!key || ttl_ms < 0)
        return LR_E_INVALID_ARG;
    struct op o = op_begin(s, key, 1);
    return op_end(&o, do_incr(&o, delta, ttl_ms, out));
}

static int do_cas(struct op *o, const void *expect, size_t expect_len,
                  const void *val, size_t len, int64_t ttl_ms)
{
    size_t i = lookup(o->ms, o->key, o->klen, o->hash, o->now);
    if (!expect)
        return i == NOT_FOUND ? put(o, val, len, ttl_ms)
                              : LR_STORE_CAS_MISMATCH;
    if (i == NOT_FOUND)
        return LR_STORE_CAS_MISMATCH;
    const struct entry *e = o->ms->slots[i].e;
    if (e->len != expect_len || memcmp(e->val, expect, expect_len) != 0)
        return LR_STORE_CAS_MISMATCH;
    return put(o, val, len, ttl_ms);
}

static int mem_cas(struct lr_store *s, const char *key, const void *expect,
                   size_t expect_len, const void *val, size_t len,
                   int64_t ttl_ms)
{
    if (!key || (!val && len) || ttl_ms < 0)
        return LR_E_INVALID_ARG;
    struct op o = op_begin(s, key, 1);
    return op_end(&o, do_cas(&o, expect, expect_len, val, len, ttl_ms));
}

static int mem_del(struct lr_store *s, const char *key)
{
    if (!key)
        return LR_E_INVALID_ARG;
    struct op o = op_begin(s, key, 1);
    size_t i = find(o.ms, key, o.klen, o.hash);
    if (i != NOT_FOUND) {
        remove_at(o.ms, i);
        maybe_shrink(o.ms);
    }
    return op_end(&o, LR_OK);
}

static void mem_close(struct lr_store *s)
{
    struct mem_store *ms = (struct mem_store *)s;
    for (size_t i = 0; i < ms->cap; i++) {
        if (ms->slots[i].e)
            entry_free(ms->slots[i].e);
    }
    free(ms->slots);
    pthread_mutex_destroy(&ms->mu);
    free(ms);
}

static const struct lr_store_backend mem_ops = {
    .name = "memory",
    .get = mem_get,
    .set = mem_set,
    .incr = mem_incr,
    .cas = mem_cas,
    .del = mem_del,
    .close = mem_close,
};

struct lr_store *lr_store_memory_new(const struct lr_clock *clk)
{
    struct mem_store *ms = calloc(1, sizeof *ms);
    if (!ms)
        return NULL;
    ms->slots = calloc(MIN_CAP, sizeof *ms->slots);
    if (!ms->slots || pthread_mutex_init(&ms->mu, NULL) != 0) {
        free(ms->slots);
        free(ms);
        return NULL;
    }
    ms->cap = MIN_CAP;
    ms->base.ops = &mem_ops;
    ms->base.clock = clk ? clk : lr_clock_real();
    seed_hash(ms);
    return &ms->base;
}

size_t lr_store_memory_count(struct lr_store *s)
{
    struct mem_store *ms = (struct mem_store *)s;
    pthread_mutex_lock(&ms->mu);
    size_t n = ms->count;
    pthread_mutex_unlock(&ms->mu);
    return n;
}
