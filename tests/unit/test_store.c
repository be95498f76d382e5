/*
 * test_store.c - the store front (core/store.c), its backends
 * (core/store_memory.c, and the sqlite store plugin,
 * plugins/store_sqlite.c, through core/store_plugin.c), on a fake clock
 * so every
 * TTL boundary is hit exactly.  The semantic tests take a factory and run
 * once per backend (memory, then sqlite on a file in a fresh mkdtemp
 * folder): the semantics store.h promises, growth to many keys,
 * reclaiming expired entries nobody reads again, and atomic incr under
 * threads.  Then the sqlite backend's own duties: persistence and expiry
 * across a reopen, refusing a file that is not its database, and incr /
 * cas counters shared by two processes that never lose an update.
 * Last, what the plugin wrapper adds: specs naming a missing, foreign or
 * unsafe plugin, and relative paths made relative to the INI's folder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "buf.h"
#include "metrics.h"
#include "store.h"
#include "testenv.h"

#define T0 INT64_C(1770000000000)

struct fx {
    struct lr_fake_clock *fc;
    struct lr_store *s;
    struct lr_buf buf;
    int sqlite;                 /* which backend the factory made */
    char dir[64];               /* sqlite: the mkdtemp folder */
    char path[96];              /* sqlite: the database file in it */
};

/* The built plugins' folder (static storage). */
static const char *plugin_dir(void)
{
    static char dir[600];
    snprintf(dir, sizeof dir, "%s/plugins", tenv_build());
    return dir;
}

/* spec opened on clk (NULL: the real one) with the built plugins. */
static struct lr_store *open_spec(const char *spec,
                                  const struct lr_clock *clk, char *err,
                                  size_t errlen)
{
    struct lr_store_env env = {.clock = clk, .plugin_dir = plugin_dir()};
    return lr_store_open(spec, &env, err, errlen);
}

/* The sqlite store plugin on the file at path. */
static struct lr_store *open_sqlite(const char *path,
                                    const struct lr_clock *clk, char *err,
                                    size_t errlen)
{
    char spec[256];
    snprintf(spec, sizeof spec, "sqlite:%s", path);
    return open_spec(spec, clk, err, errlen);
}

/* The factory: a fresh store of the fixture's backend on its clock. */
static struct lr_store *open_store(struct fx *f)
{
    char err[1024];
    const struct lr_clock *clk = lr_fake_clock_get(f->fc);
    if (!f->sqlite)
        return lr_store_memory_new(clk);
    struct lr_store *s = open_sqlite(f->path, clk, err, sizeof err);
    if (!s)
        fprintf(stderr, "%s\n", err);
    return s;
}

static void reopen(struct fx *f)
{
    lr_store_close(f->s);
    f->s = open_store(f);
    assert_non_null(f->s);
}

static int setup_with(void **state, int sqlite)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    *state = f;
    f->sqlite = sqlite;
    snprintf(f->dir, sizeof f->dir, "/tmp/lr-store-XXXXXX");
    if (sqlite && !mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/state.db", f->dir);
    f->fc = lr_fake_clock_new(0, T0);
    f->s = f->fc ? open_store(f) : NULL;
    return f->s ? 0 : -1;
}

static int setup_memory(void **state)
{
    return setup_with(state, 0);
}

static int setup_sqlite(void **state)
{
    return setup_with(state, 1);
}

/* Remove the database, its WAL and shared-memory files and the folder. */
static void remove_db(struct fx *f)
{
    static const char *const suffix[] = { "", "-wal", "-shm", "-journal" };
    char p[128];
    for (size_t i = 0; i < sizeof suffix / sizeof *suffix; i++) {
        snprintf(p, sizeof p, "%s%s", f->path, suffix[i]);
        unlink(p);
    }
    rmdir(f->dir);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    lr_store_close(f->s);
    lr_fake_clock_free(f->fc);
    lr_buf_free(&f->buf);
    if (f->sqlite)
        remove_db(f);
    free(f);
    return 0;
}

/* Rows the sqlite file holds, read through a connection of our own. */
static size_t sqlite_rows(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    size_t n = SIZE_MAX;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) ==
            SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT count(*) FROM kv", -1, &st, NULL) ==
            SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = (size_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* Entries the store holds, expired ones not yet reclaimed included. */
static size_t count(struct fx *f)
{
    return f->sqlite ? sqlite_rows(f->path) : lr_store_memory_count(f->s);
}

/* The value of key as a string, or NULL when missing. */
static const char *get(struct fx *f, const char *key)
{
    lr_buf_reset(&f->buf);
    int rc = f->s->ops->get(f->s, key, &f->buf);
    if (rc == LR_E_NOT_FOUND)
        return NULL;
    assert_int_equal(rc, LR_OK);
    return lr_buf_str(&f->buf);
}

static int set(struct fx *f, const char *key, const char *val, int64_t ttl)
{
    return f->s->ops->set(f->s, key, val, strlen(val), ttl);
}

static int incr(struct fx *f, const char *key, int64_t d, int64_t ttl,
                int64_t *out)
{
    return f->s->ops->incr(f->s, key, d, ttl, out);
}

static int cas(struct fx *f, const char *key, const char *expect,
               const char *val, int64_t ttl)
{
    return f->s->ops->cas(f->s, key, expect, expect ? strlen(expect) : 0,
                          val, strlen(val), ttl);
}

static int del(struct fx *f, const char *key)
{
    return f->s->ops->del(f->s, key);
}

/* --- get / set / del -------------------------------------------------- */

static void test_get_set_del(void **state)
{
    struct fx *f = *state;
    assert_string_equal(f->s->ops->name, f->sqlite ? "plugin" : "memory");
    assert_null(get(f, "a"));
    assert_int_equal(set(f, "a", "one", 0), LR_OK);
    assert_string_equal(get(f, "a"), "one");
    assert_int_equal(set(f, "a", "two!", 0), LR_OK);
    assert_string_equal(get(f, "a"), "two!");
    assert_int_equal(set(f, "", "empty key", 0), LR_OK);
    assert_string_equal(get(f, ""), "empty key");
    assert_int_equal(set(f, "b", "", 0), LR_OK);
    assert_string_equal(get(f, "b"), "");
    assert_int_equal(del(f, "a"), LR_OK);
    assert_null(get(f, "a"));
    assert_int_equal(del(f, "a"), LR_OK);
    assert_int_equal(del(f, "never-there"), LR_OK);
    assert_string_equal(get(f, "b"), "");
    assert_int_equal(count(f), 2);
}

static void test_get_appends(void **state)
{
    struct fx *f = *state;
    assert_int_equal(set(f, "k", "tail", 0), LR_OK);
    lr_buf_reset(&f->buf);
    lr_buf_puts(&f->buf, "head-");
    assert_int_equal(f->s->ops->get(f->s, "k", &f->buf), LR_OK);
    assert_string_equal(lr_buf_str(&f->buf), "head-tail");
}

static void test_binary_values(void **state)
{
    struct fx *f = *state;
    const char bin[] = { 'a', '\0', 'b', '\xff', '\0' };
    assert_int_equal(f->s->ops->set(f->s, "bin", bin, sizeof bin, 0), LR_OK);
    lr_buf_reset(&f->buf);
    assert_int_equal(f->s->ops->get(f->s, "bin", &f->buf), LR_OK);
    assert_int_equal(f->buf.len, sizeof bin);
    assert_memory_equal(f->buf.data, bin, sizeof bin);
    /* A big value then a small one: the small one reads back whole. */
    char *big = malloc(100000);
    assert_non_null(big);
    memset(big, 'z', 99999);
    big[99999] = '\0';
    assert_int_equal(set(f, "v", big, 0), LR_OK);
    assert_int_equal(strlen(get(f, "v")), 99999);
    assert_int_equal(set(f, "v", "tiny", 0), LR_OK);
    assert_string_equal(get(f, "v"), "tiny");
    /* Long keys are keys like any other. */
    assert_int_equal(set(f, big, "long key", 0), LR_OK);
    assert_string_equal(get(f, big), "long key");
    big[5000] = '\0';
    assert_null(get(f, big));
    free(big);
}

static void test_invalid_args(void **state)
{
    struct fx *f = *state;
    const struct lr_store_backend *o = f->s->ops;
    assert_int_equal(o->set(f->s, NULL, "x", 1, 0), LR_E_INVALID_ARG);
    assert_int_equal(o->set(f->s, "k", NULL, 1, 0), LR_E_INVALID_ARG);
    assert_int_equal(o->set(f->s, "k", NULL, 0, 0), LR_OK);
    assert_string_equal(get(f, "k"), "");
    assert_int_equal(o->set(f->s, "k", "x", 1, -1), LR_E_INVALID_ARG);
    assert_int_equal(o->get(f->s, NULL, &f->buf), LR_E_INVALID_ARG);
    assert_int_equal(o->get(f->s, "k", NULL), LR_E_INVALID_ARG);
    assert_int_equal(o->incr(f->s, NULL, 1, 0, NULL), LR_E_INVALID_ARG);
    assert_int_equal(o->incr(f->s, "n", 1, -5, NULL), LR_E_INVALID_ARG);
    assert_int_equal(o->cas(f->s, NULL, NULL, 0, "v", 1, 0),
                     LR_E_INVALID_ARG);
    assert_int_equal(o->cas(f->s, "c", NULL, 0, NULL, 1, 0),
                     LR_E_INVALID_ARG);
    assert_int_equal(o->cas(f->s, "c", NULL, 0, "v", 1, -1),
                     LR_E_INVALID_ARG);
    assert_int_equal(o->del(f->s, NULL), LR_E_INVALID_ARG);
    assert_null(get(f, "n"));
    assert_null(get(f, "c"));
}

/* --- TTL --------------------------------------------------------------- */

static void test_ttl_expiry(void **state)
{
    struct fx *f = *state;
    assert_int_equal(set(f, "t", "v", 1000), LR_OK);
    assert_int_equal(set(f, "forever", "v", 0), LR_OK);
    lr_fake_clock_advance(f->fc, 999);
    assert_string_equal(get(f, "t"), "v");
    lr_fake_clock_advance(f->fc, 1);
    assert_null(get(f, "t"));
    assert_null(get(f, "t"));
    lr_fake_clock_advance(f->fc, INT64_C(10) * 365 * 86400 * 1000);
    assert_string_equal(get(f, "forever"), "v");
    /* The expired entry was freed by the read that found it. */
    assert_int_equal(count(f), 1);
}

static void test_ttl_replaced_by_set(void **state)
{
    struct fx *f = *state;
    assert_int_equal(set(f, "k", "a", 100), LR_OK);
    assert_int_equal(set(f, "k", "b", 0), LR_OK);
    lr_fake_clock_advance(f->fc, 1000);
    assert_string_equal(get(f, "k"), "b");
    assert_int_equal(set(f, "k", "c", 50), LR_OK);
    lr_fake_clock_advance(f->fc, 49);
    assert_int_equal(set(f, "k", "d", 50), LR_OK);
    lr_fake_clock_advance(f->fc, 49);
    assert_string_equal(get(f, "k"), "d");
    lr_fake_clock_advance(f->fc, 1);
    assert_null(get(f, "k"));
    /* A TTL past the end of time is as good as none. */
    assert_int_equal(set(f, "far", "x", INT64_MAX), LR_OK);
    lr_fake_clock_advance(f->fc, INT64_C(1) << 40);
    assert_string_equal(get(f, "far"), "x");
}

/* --- incr -------------------------------------------------------------- */

static void test_incr_create_accumulate(void **state)
{
    struct fx *f = *state;
    int64_t v = 0;
    assert_int_equal(incr(f, "n", 5, 0, &v), LR_OK);
    assert_int_equal(v, 5);
    assert_int_equal(incr(f, "n", 3, 0, &v), LR_OK);
    assert_int_equal(v, 8);
    assert_int_equal(incr(f, "n", -10, 0, &v), LR_OK);
    assert_int_equal(v, -2);
    assert_string_equal(get(f, "n"), "-2");
    assert_int_equal(incr(f, "n", 0, 0, NULL), LR_OK);
    assert_string_equal(get(f, "n"), "-2");
    assert_int_equal(set(f, "m", "-5", 0), LR_OK);
    assert_int_equal(incr(f, "m", 2, 0, &v), LR_OK);
    assert_int_equal(v, -3);
    assert_int_equal(set(f, "z", "007", 0), LR_OK);
    assert_int_equal(incr(f, "z", 1, 0, &v), LR_OK);
    assert_int_equal(v, 8);
}

/* A window counter: the TTL from the first incr holds however often the
   counter moves; once it lapses the next incr opens a new window. */
static void test_incr_ttl_only_on_create(void **state)
{
    struct fx *f = *state;
    int64_t v = 0;
    assert_int_equal(incr(f, "w", 1, 1000, &v), LR_OK);
    lr_fake_clock_advance(f->fc, 600);
    assert_int_equal(incr(f, "w", 1, 1000, &v), LR_OK);
    assert_int_equal(v, 2);
    lr_fake_clock_advance(f->fc, 399);
    assert_int_equal(incr(f, "w", 1, 5000, &v), LR_OK);
    assert_int_equal(v, 3);
    lr_fake_clock_advance(f->fc, 1);
    assert_null(get(f, "w"));
    assert_int_equal(incr(f, "w", 1, 1000, &v), LR_OK);
    assert_int_equal(v, 1);
    lr_fake_clock_advance(f->fc, 999);
    assert_string_equal(get(f, "w"), "1");
    lr_fake_clock_advance(f->fc, 1);
    assert_null(get(f, "w"));
    /* incr keeps a TTL that set gave the key. */
    assert_int_equal(set(f, "s", "10", 100), LR_OK);
    assert_int_equal(incr(f, "s", 1, 0, &v), LR_OK);
    lr_fake_clock_advance(f->fc, 100);
    assert_null(get(f, "s"));
}

static void expect_not_integer(struct fx *f, const char *val)
{
    int64_t v = 42;
    assert_int_equal(set(f, "x", val, 0), LR_OK);
    assert_int_equal(incr(f, "x", 1, 0, &v), LR_E_INVALID_ARG);
    assert_int_equal(v, 42);
    assert_string_equal(get(f, "x"), val);
}

static void test_incr_not_integer(void **state)
{
    struct fx *f = *state;
    static const char *const bad[] = {
        "abc", "", "-", "12a", " 1", "1 ", "+1", "1.5", "0x10", "--1",
        "9223372036854775808", "-9223372036854775809",
        "99999999999999999999999",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        expect_not_integer(f, bad[i]);
    /* Not even an integer with a NUL inside. */
    int64_t v = 0;
    assert_int_equal(f->s->ops->set(f->s, "y", "1\0" "2", 3, 0), LR_OK);
    assert_int_equal(incr(f, "y", 1, 0, &v), LR_E_INVALID_ARG);
    /* An expired non-integer is simply missing. */
    assert_int_equal(set(f, "e", "abc", 10), LR_OK);
    lr_fake_clock_advance(f->fc, 10);
    assert_int_equal(incr(f, "e", 4, 0, &v), LR_OK);
    assert_int_equal(v, 4);
}

static void test_incr_limits(void **state)
{
    struct fx *f = *state;
    int64_t v = 0;
    assert_int_equal(set(f, "max", "9223372036854775807", 0), LR_OK);
    assert_int_equal(incr(f, "max", 0, 0, &v), LR_OK);
    assert_true(v == INT64_MAX);
    assert_int_equal(incr(f, "max", 1, 0, &v), LR_E_INVALID_ARG);
    assert_string_equal(get(f, "max"), "9223372036854775807");
    assert_int_equal(set(f, "min", "-9223372036854775808", 0), LR_OK);
    assert_int_equal(incr(f, "min", 0, 0, &v), LR_OK);
    assert_true(v == INT64_MIN);
    assert_int_equal(incr(f, "min", -1, 0, &v), LR_E_INVALID_ARG);
    assert_int_equal(incr(f, "min", INT64_MAX, 0, &v), LR_OK);
    assert_int_equal(v, -1);
    assert_int_equal(incr(f, "fresh", INT64_MIN, 0, &v), LR_OK);
    assert_string_equal(get(f, "fresh"), "-9223372036854775808");
}

/* --- cas --------------------------------------------------------------- */

static void test_cas_expect_null(void **state)
{
    struct fx *f = *state;
    assert_int_equal(cas(f, "lock", NULL, "me", 0), LR_OK);
    assert_string_equal(get(f, "lock"), "me");
    assert_int_equal(cas(f, "lock", NULL, "you", 0), LR_STORE_CAS_MISMATCH);
    assert_string_equal(get(f, "lock"), "me");
    /* A lease: once it lapses the key counts as missing again. */
    assert_int_equal(cas(f, "lease", NULL, "a", 500), LR_OK);
    lr_fake_clock_advance(f->fc, 499);
    assert_int_equal(cas(f, "lease", NULL, "b", 500), LR_STORE_CAS_MISMATCH);
    lr_fake_clock_advance(f->fc, 1);
    assert_int_equal(cas(f, "lease", NULL, "b", 500), LR_OK);
    assert_string_equal(get(f, "lease"), "b");
}

static void test_cas_expect_value(void **state)
{
    struct fx *f = *state;
    assert_int_equal(cas(f, "st", "closed", "open", 0),
                     LR_STORE_CAS_MISMATCH);
    assert_null(get(f, "st"));
    assert_int_equal(set(f, "st", "closed", 0), LR_OK);
    assert_int_equal(cas(f, "st", "open", "half", 0), LR_STORE_CAS_MISMATCH);
    assert_int_equal(cas(f, "st", "close", "half", 0),
                     LR_STORE_CAS_MISMATCH);
    assert_int_equal(cas(f, "st", "closedx", "half", 0),
                     LR_STORE_CAS_MISMATCH);
    assert_string_equal(get(f, "st"), "closed");
    assert_int_equal(cas(f, "st", "closed", "open", 100), LR_OK);
    assert_string_equal(get(f, "st"), "open");
    /* The ttl given to cas is the new value's. */
    lr_fake_clock_advance(f->fc, 100);
    assert_null(get(f, "st"));
    assert_int_equal(cas(f, "st", "open", "x", 0), LR_STORE_CAS_MISMATCH);
    /* An empty expect matches an empty value, not a missing key. */
    assert_int_equal(cas(f, "e", "", "v", 0), LR_STORE_CAS_MISMATCH);
    assert_int_equal(set(f, "e", "", 0), LR_OK);
    assert_int_equal(cas(f, "e", "", "v", 0), LR_OK);
    assert_string_equal(get(f, "e"), "v");
}

/* --- Many keys, reclaiming --------------------------------------------- */

#define MANY 100000

static void test_many_keys(void **state)
{
    struct fx *f = *state;
    char key[32], val[32];
    for (int i = 0; i < MANY; i++) {
        snprintf(key, sizeof key, "key:%d", i);
        snprintf(val, sizeof val, "%d", i * 7);
        assert_int_equal(set(f, key, val, 0), LR_OK);
    }
    assert_int_equal(count(f), MANY);
    for (int i = 0; i < MANY; i++) {
        snprintf(key, sizeof key, "key:%d", i);
        snprintf(val, sizeof val, "%d", i * 7);
        assert_string_equal(get(f, key), val);
    }
    for (int i = 0; i < MANY; i += 2) {
        snprintf(key, sizeof key, "key:%d", i);
        assert_int_equal(del(f, key), LR_OK);
    }
    assert_int_equal(count(f), MANY / 2);
    for (int i = 0; i < MANY; i++) {
        snprintf(key, sizeof key, "key:%d", i);
        const char *v = get(f, key);
        assert_true(i % 2 ? v != NULL : v == NULL);
    }
    for (int i = 1; i < MANY; i += 2) {
        snprintf(key, sizeof key, "key:%d", i);
        assert_int_equal(del(f, key), LR_OK);
    }
    assert_int_equal(count(f), 0);
    assert_int_equal(set(f, "after", "ok", 0), LR_OK);
    assert_string_equal(get(f, "after"), "ok");
}

static void fill_expiring(struct fx *f, int n, int64_t ttl)
{
    char key[32];
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "old:%d", i);
        assert_int_equal(set(f, key, "x", ttl), LR_OK);
    }
}

/* Expired keys nobody reads again must not pile up: writes to other keys
   sweep them, and the table reuses their room instead of growing. */
static void test_sweep_on_growth(void **state)
{
    struct fx *f = *state;
    char key[32];
    fill_expiring(f, 10000, 1000);
    lr_fake_clock_advance(f->fc, 1000);
    assert_int_equal(count(f), 10000);
    for (int i = 0; i < 10000; i++) {
        snprintf(key, sizeof key, "new:%d", i);
        assert_int_equal(set(f, key, "y", 0), LR_OK);
    }
    assert_int_equal(count(f), 10000);
    assert_null(get(f, "old:0"));
    assert_string_equal(get(f, "new:9999"), "y");
}

static void test_sweep_incremental(void **state)
{
    struct fx *f = *state;
    int64_t v = 0;
    fill_expiring(f, 10000, 1000);
    assert_int_equal(set(f, "live", "kept", 0), LR_OK);
    lr_fake_clock_advance(f->fc, 1000);
    /* Writes to one hot key, no growth at all: the cursor still visits
       every slot within a bounded number of writes. */
    for (int i = 0; i < 50000; i++)
        assert_int_equal(incr(f, "hot", 1, 0, &v), LR_OK);
    assert_int_equal(v, 50000);
    assert_int_equal(count(f), 2);
    assert_string_equal(get(f, "live"), "kept");
}

/* --- Threads ------------------------------------------------------------ */

#define THREADS 8
#define INCRS 10000

struct worker {
    struct lr_store *s;
    int id;
    int errors; /* cmocka asserts are not thread-safe: count here */
};

static void *hammer(void *arg)
{
    struct worker *w = arg;
    const struct lr_store_backend *o = w->s->ops;
    char key[32];
    for (int i = 0; i < INCRS; i++) {
        snprintf(key, sizeof key, "t%d:%d", w->id, i);
        if (o->incr(w->s, "total", 1, 0, NULL) != LR_OK)
            w->errors++;
        if (o->set(w->s, key, "v", 1, 0) != LR_OK)
            w->errors++;
        if (i % 3 == 0 && o->del(w->s, key) != LR_OK)
            w->errors++;
    }
    return NULL;
}

static void test_concurrent_incr(void **state)
{
    struct fx *f = *state;
    pthread_t tid[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){ f->s, i, 0 };
        assert_int_equal(pthread_create(&tid[i], NULL, hammer, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(tid[i], NULL);
        assert_int_equal(w[i].errors, 0);
    }
    char want[32];
    snprintf(want, sizeof want, "%d", THREADS * INCRS);
    assert_string_equal(get(f, "total"), want);
    int kept = INCRS - (INCRS + 2) / 3;
    assert_int_equal(count(f), 1 + THREADS * kept);
}

/* --- lr_store_open ------------------------------------------------------ */

static void expect_open_error(const char *spec, const char *want)
{
    char err[1024] = "untouched";
    assert_null(open_spec(spec, NULL, err, sizeof err));
    if (strcmp(err, want) != 0)
        fail_msg("spec '%s': expected \"%s\", got \"%s\"",
                 spec ? spec : "(null)", want, err);
}

#define EXPECTED "(expected memory, or NAME:ARG for the store plugin " \
                 "NAME, e.g. sqlite:PATH)"

static void test_open_specs(void **state)
{
    char want[1024];
    expect_open_error("sqlite:/nonexistent-lr-dir/state.db",
                      "sqlite:/nonexistent-lr-dir/state.db: cannot open: "
                      "unable to open database file");
    expect_open_error("sqlite:", "sqlite:: cannot open: empty path");
    /* No such plugin: says which file it looked for. */
    snprintf(want, sizeof want, "no store plugin 'redis': %s/redis.so does "
             "not exist", plugin_dir());
    expect_open_error("redis://127.0.0.1:6379", want);
    /* A plugin of another kind. */
    snprintf(want, sizeof want, "store plugin 'openai': %s/openai.so: "
             "plugin 'openai' is a provider, expected a store",
             plugin_dir());
    expect_open_error("openai:x", want);
    expect_open_error("bogus", "unknown store 'bogus' " EXPECTED);
    expect_open_error("Memory", "unknown store 'Memory' " EXPECTED);
    expect_open_error("memory ", "unknown store 'memory ' " EXPECTED);
    expect_open_error("", "unknown store '' " EXPECTED);
    expect_open_error(NULL, "unknown store '' " EXPECTED);
    /* The name becomes a file name: nothing that could leave the folder,
       and no upper case or spaces. */
    expect_open_error("../sqlite:x", "unknown store '../sqlite:x' "
                      EXPECTED);
    expect_open_error("a/b:x", "unknown store 'a/b:x' " EXPECTED);
    expect_open_error("SQLite:x", "unknown store 'SQLite:x' " EXPECTED);
    expect_open_error(":x", "unknown store ':x' " EXPECTED);
    expect_open_error("a_very_long_store_name_over_32_chars:x",
                      "unknown store 'a_very_long_store_name_over_32_chars"
                      ":x' " EXPECTED);
    /* A short or absent error buffer is respected. */
    char small[8];
    assert_null(open_spec("bogus", NULL, small, sizeof small));
    assert_string_equal(small, "unknown");
    assert_null(open_spec("bogus", NULL, NULL, 0));
    assert_null(open_spec("redis://x", NULL, NULL, 0));
}

/* A plugin store's spec: a relative path is made relative to base_dir
   (the INI's folder), an absolute one is kept, and the store's spec says
   which file it opened. */
static void test_open_relative_path(void **state)
{
    char dir[] = "/tmp/lr-store-rel-XXXXXX", err[1024] = "", want[256];
    assert_non_null(mkdtemp(dir));
    struct lr_store_env env = {.plugin_dir = plugin_dir(), .base_dir = dir};
    struct lr_store *s = lr_store_open("sqlite:rel.db", &env, err,
                                       sizeof err);
    assert_non_null(s);
    snprintf(want, sizeof want, "sqlite:%s/rel.db", dir);
    assert_string_equal(s->spec, want);
    assert_int_equal(s->ops->set(s, "k", "v", 1, 0), LR_OK);
    lr_store_close(s);
    snprintf(want, sizeof want, "%s/rel.db", dir);
    assert_int_equal(access(want, F_OK), 0);
    s = lr_store_open(strcat(strcpy(err, "sqlite:"), want), &env, err,
                      sizeof err);
    assert_non_null(s);
    assert_string_equal(s->spec + 7, want);
    struct lr_buf b = {0};
    assert_int_equal(s->ops->get(s, "k", &b), LR_OK);
    assert_string_equal(lr_buf_str(&b), "v");
    /* The wrapper refuses what store.h calls invalid before the plugin
       sees it. */
    assert_int_equal(s->ops->get(s, NULL, &b), LR_E_INVALID_ARG);
    assert_int_equal(s->ops->set(s, "k", NULL, 1, 0), LR_E_INVALID_ARG);
    assert_int_equal(s->ops->set(s, "k", "v", 1, -1), LR_E_INVALID_ARG);
    assert_int_equal(s->ops->incr(s, NULL, 1, 0, NULL), LR_E_INVALID_ARG);
    assert_int_equal(s->ops->cas(s, "k", NULL, 0, NULL, 2, 0),
                     LR_E_INVALID_ARG);
    assert_int_equal(s->ops->del(s, NULL), LR_E_INVALID_ARG);
    lr_buf_free(&b);
    lr_store_close(s);
    unlink(want);
    strcat(want, "-wal");
    unlink(want);
    want[strlen(want) - 4] = '\0';
    strcat(want, "-shm");
    unlink(want);
    assert_int_equal(rmdir(dir), 0);
}

/* A number in lr_metrics_to_json()'s {"counters"|"gauges": {name:
   value | {label: value}}}, or -1. */
static double metric(struct lr_metrics *m, const char *kind,
                     const char *name, const char *label)
{
    char *text = lr_metrics_to_json(m);
    cJSON *j = cJSON_Parse(text);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(j, kind), name);
    if (label)
        v = cJSON_GetObjectItemCaseSensitive(v, label);
    double d = cJSON_IsNumber(v) ? v->valuedouble : -1;
    cJSON_Delete(j);
    free(text);
    return d;
}

/* The host a store plugin gets (tests/plugins/store_probe.c checks in
   open() that only a store's members are set): its counters and gauges
   reach env->metrics, its wall clock is the store's, buffers work
   through it, and a refusal in open() comes back after the spec. */
static void test_plugin_host(void **state)
{
    char dir[600], err[1024] = "";
    snprintf(dir, sizeof dir, "%s/tests/plugins", tenv_build());
    struct lr_fake_clock *fc = lr_fake_clock_new(0, T0);
    struct lr_metrics *m = lr_metrics_new();
    assert_non_null(fc);
    assert_non_null(m);
    struct lr_store_env env = {.clock = lr_fake_clock_get(fc),
                               .plugin_dir = dir, .metrics = m};
    struct lr_store *s = lr_store_open("store_probe:host", &env, err,
                                       sizeof err);
    if (!s)
        fail_msg("%s", err);
    assert_string_equal(s->spec, "store_probe:host");
    struct lr_buf b = {0};
    assert_int_equal(s->ops->get(s, "k", &b), LR_OK);
    assert_string_equal(lr_buf_str(&b), "v");
    assert_true(metric(m, "counters", "store_probe_opened", "host") == 1);
    assert_true(metric(m, "gauges", "store_probe_wall", NULL) == (double)T0);
    lr_store_close(s);
    assert_null(lr_store_open("store_probe:fail", &env, err, sizeof err));
    assert_string_equal(err, "store_probe:fail: refused by probe");
    /* Broken store plugins are refused by the loader, named. */
    assert_null(lr_store_open("store_no_cas:x", &env, err, sizeof err));
    assert_non_null(strstr(err, "store plugin 'store_no_cas': "));
    assert_non_null(strstr(err, "store 'store_no_cas' lacks cas"));
    lr_buf_free(&b);
    lr_metrics_free(m);
    lr_fake_clock_free(fc);
}

static void test_open_memory(void **state)
{
    struct lr_fake_clock *fc = lr_fake_clock_new(0, T0);
    assert_non_null(fc);
    char err[128] = "";
    struct lr_store *s = open_spec("memory", lr_fake_clock_get(fc), err,
                                   sizeof err);
    assert_non_null(s);
    assert_string_equal(err, "");
    assert_string_equal(s->spec, "memory");
    assert_ptr_equal(s->clock, lr_fake_clock_get(fc));
    assert_int_equal(s->ops->set(s, "k", "v", 1, 10), LR_OK);
    lr_fake_clock_advance(fc, 10);
    struct lr_buf b = { 0 };
    assert_int_equal(s->ops->get(s, "k", &b), LR_E_NOT_FOUND);
    lr_store_close(s);
    lr_fake_clock_free(fc);
    /* No clock given: the real one. */
    s = open_spec("memory", NULL, err, sizeof err);
    assert_non_null(s);
    assert_ptr_equal(s->clock, lr_clock_real());
    lr_store_close(s);
    lr_store_close(NULL);
}

/* --- sqlite only ---------------------------------------------------------- */

/* Spend survives a restart: close, reopen, everything is still there. */
static void test_sqlite_persist(void **state)
{
    struct fx *f = *state;
    int64_t v = 0;
    const char bin[] = { 'x', '\0', 'y' };
    assert_int_equal(set(f, "a", "one", 0), LR_OK);
    assert_int_equal(incr(f, "spent", 1234, 0, &v), LR_OK);
    assert_int_equal(f->s->ops->set(f->s, "bin", bin, sizeof bin, 0), LR_OK);
    assert_int_equal(set(f, "gone", "x", 0), LR_OK);
    assert_int_equal(del(f, "gone"), LR_OK);
    reopen(f);
    assert_string_equal(get(f, "a"), "one");
    assert_string_equal(get(f, "spent"), "1234");
    assert_null(get(f, "gone"));
    lr_buf_reset(&f->buf);
    assert_int_equal(f->s->ops->get(f->s, "bin", &f->buf), LR_OK);
    assert_int_equal(f->buf.len, sizeof bin);
    assert_memory_equal(f->buf.data, bin, sizeof bin);
    assert_int_equal(incr(f, "spent", 1, 0, &v), LR_OK);
    assert_int_equal(v, 1235);
    assert_int_equal(count(f), 3);
}

/* TTLs are wall times in the file: they hold across a reopen, counted
   on the (fake) clock, not from the moment the store was opened. */
static void test_sqlite_expiry_across_reopen(void **state)
{
    struct fx *f = *state;
    int64_t v = 0;
    assert_int_equal(set(f, "t", "v", 1000), LR_OK);
    assert_int_equal(incr(f, "w", 1, 500, &v), LR_OK);
    assert_int_equal(set(f, "forever", "v", 0), LR_OK);
    lr_store_close(f->s);
    f->s = NULL;
    lr_fake_clock_advance(f->fc, 500);
    reopen(f);
    assert_null(get(f, "w"));
    assert_string_equal(get(f, "t"), "v");
    assert_int_equal(incr(f, "w", 1, 500, &v), LR_OK);
    assert_int_equal(v, 1);
    reopen(f);
    lr_fake_clock_advance(f->fc, 500);
    assert_null(get(f, "t"));
    assert_null(get(f, "w"));
    assert_string_equal(get(f, "forever"), "v");
    assert_int_equal(count(f), 1);
}

/* One integer (or -1 for NULL) that sql answers on the file. */
static int64_t sql_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v = INT64_MIN;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY,
                                     NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_type(st, 0) == SQLITE_NULL
                ? -1 : sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* The file is what design.md says: schema version 1, WAL, expiry as
   wall ms of the injected clock, NULL for none. */
static void test_sqlite_schema(void **state)
{
    struct fx *f = *state;
    assert_int_equal(set(f, "t", "v", 1500), LR_OK);
    assert_int_equal(set(f, "n", "v", 0), LR_OK);
    assert_int_equal(sql_int(f->path, "PRAGMA user_version"), 1);
    assert_int_equal(sql_int(f->path, "SELECT journal_mode = 'wal' FROM "
                             "pragma_journal_mode"), 1);
    assert_true(sql_int(f->path, "SELECT expires_at FROM kv WHERE key = "
                        "'t'") == T0 + 1500);
    assert_int_equal(sql_int(f->path, "SELECT expires_at FROM kv WHERE "
                             "key = 'n'"), -1);
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    for (int i = 0; i < 100; i++)
        fputs(text, fp);
    fclose(fp);
}

/* A file that is not an SQLite database, or one written by a newer
   build, is an error at open that names the file. */
static void test_sqlite_bad_files(void **state)
{
    struct fx *f = *state;
    char err[512], want[512], spec[160];
    lr_store_close(f->s);
    f->s = NULL;
    write_file(f->path, "this is a text file, not a database\n");
    snprintf(spec, sizeof spec, "sqlite:%s", f->path);
    assert_null(open_spec(spec, NULL, err, sizeof err));
    snprintf(want, sizeof want, "sqlite:%s: cannot open: file is not a "
             "database", f->path);
    assert_string_equal(err, want);
    remove_db(f);
    assert_non_null(mkdtemp(strcpy(f->dir, "/tmp/lr-store-XXXXXX")));
    snprintf(f->path, sizeof f->path, "%s/state.db", f->dir);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL,
                                  NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_null(open_sqlite(f->path, NULL, err, sizeof err));
    snprintf(want, sizeof want, "sqlite:%s: cannot open: schema version "
             "is newer than this build knows", f->path);
    assert_string_equal(err, want);
}

#define PROC_OPS 500
#define CAS_TRIES 100000        /* bound on a child's cas retries */

/* One step of a cas-based counter: read, then cas from what was read. */
static int cas_step(struct lr_store *s, struct lr_buf *b)
{
    char num[32];
    lr_buf_reset(b);
    int rc = s->ops->get(s, "cas", b);
    if (rc != LR_OK && rc != LR_E_NOT_FOUND)
        return rc;
    const char *old = rc == LR_OK ? lr_buf_str(b) : NULL;
    long n = old ? strtol(old, NULL, 10) : 0;
    int len = snprintf(num, sizeof num, "%ld", n + 1);
    return s->ops->cas(s, "cas", old, old ? strlen(old) : 0, num,
                       (size_t)len, 0);
}

/* A child: PROC_OPS incr of "n", then PROC_OPS successful cas steps.
   Exits 0 only when every operation did what it should. */
static void child(const char *path)
{
    struct lr_buf b = { 0 };
    struct lr_store *s = open_sqlite(path, NULL, NULL, 0);
    int bad = !s;
    for (int i = 0; s && i < PROC_OPS; i++)
        bad |= s->ops->incr(s, "n", 1, 0, NULL) != LR_OK;
    int done_ops = 0;
    for (int t = 0; s && t < CAS_TRIES && done_ops < PROC_OPS; t++) {
        int rc = cas_step(s, &b);
        if (rc == LR_OK)
            done_ops++;
        else
            bad |= rc != LR_STORE_CAS_MISMATCH;
    }
    bad |= done_ops != PROC_OPS;
    lr_store_close(s);
    lr_buf_free(&b);
    _exit(bad ? 1 : 0);
}

/* Two processes share one file: no incr and no cas update is lost. */
static void test_sqlite_two_processes(void **state)
{
    struct fx *f = *state;
    pid_t pid[2];
    lr_store_close(f->s);
    f->s = NULL;
    for (int i = 0; i < 2; i++) {
        pid[i] = fork();
        assert_true(pid[i] >= 0);
        if (pid[i] == 0)
            child(f->path);
    }
    for (int i = 0; i < 2; i++) {
        int st = -1;
        assert_int_equal(waitpid(pid[i], &st, 0), pid[i]);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    reopen(f);
    assert_string_equal(get(f, "n"), "1000");
    assert_string_equal(get(f, "cas"), "1000");
}

#define TESTS(setup)                                                   \
    cmocka_unit_test_setup_teardown(test_get_set_del, setup, teardown), \
    cmocka_unit_test_setup_teardown(test_get_appends, setup, teardown), \
    cmocka_unit_test_setup_teardown(test_binary_values, setup, teardown), \
    cmocka_unit_test_setup_teardown(test_invalid_args, setup, teardown), \
    cmocka_unit_test_setup_teardown(test_ttl_expiry, setup, teardown), \
    cmocka_unit_test_setup_teardown(test_ttl_replaced_by_set, setup,   \
                                    teardown),                         \
    cmocka_unit_test_setup_teardown(test_incr_create_accumulate, setup, \
                                    teardown),                         \
    cmocka_unit_test_setup_teardown(test_incr_ttl_only_on_create, setup, \
                                    teardown),                         \
    cmocka_unit_test_setup_teardown(test_incr_not_integer, setup,      \
                                    teardown),                         \
    cmocka_unit_test_setup_teardown(test_incr_limits, setup, teardown), \
    cmocka_unit_test_setup_teardown(test_cas_expect_null, setup,       \
                                    teardown),                         \
    cmocka_unit_test_setup_teardown(test_cas_expect_value, setup,      \
                                    teardown),                         \
    cmocka_unit_test_setup_teardown(test_many_keys, setup, teardown),  \
    cmocka_unit_test_setup_teardown(test_sweep_on_growth, setup,       \
                                    teardown),                         \
    cmocka_unit_test_setup_teardown(test_sweep_incremental, setup,     \
                                    teardown),                         \
    cmocka_unit_test_setup_teardown(test_concurrent_incr, setup, teardown)

#define SQ(fn) cmocka_unit_test_setup_teardown(fn, setup_sqlite, teardown)

int main(void)
{
    const struct CMUnitTest memory[] = {
        TESTS(setup_memory),
        cmocka_unit_test(test_open_specs),
        cmocka_unit_test(test_open_memory),
        cmocka_unit_test(test_open_relative_path),
        cmocka_unit_test(test_plugin_host),
    };
    const struct CMUnitTest sqlite[] = {
        TESTS(setup_sqlite),
        SQ(test_sqlite_schema),
        SQ(test_sqlite_persist),
        SQ(test_sqlite_expiry_across_reopen),
        SQ(test_sqlite_bad_files),
        SQ(test_sqlite_two_processes),
    };
    int failed = cmocka_run_group_tests_name("memory", memory, NULL, NULL);
    failed += cmocka_run_group_tests_name("sqlite", sqlite, NULL, NULL);
    return failed;
}
