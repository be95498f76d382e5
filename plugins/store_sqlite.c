/*
 * store_sqlite.c - the "sqlite" store plugin: one SQLite file that
 * survives restarts and that several processes may share.  Semantics are
 * those of struct lr_store_ops (llmroute_plugin.h).  Open it with
 * "store = sqlite:PATH" in [router]; a relative PATH is relative to the
 * INI file.  A plugin rather than part of the core, so that a process
 * using the memory store never maps libsqlite3 and libm (0.6 MiB of
 * idle RSS).
 *
 * Schema (PRAGMA user_version 1): one table
 *     kv(key TEXT PRIMARY KEY, value BLOB NOT NULL, expires_at INTEGER)
 * with expires_at in wall ms of the injected clock, NULL for no expiry,
 * and a partial index on expires_at for the sweep.  A file whose
 * user_version is newer than SCHEMA_VERSION is refused at open; later
 * migrations go in migrate().
 *
 * Atomicity.  get, set and del are one statement each, so one implicit
 * transaction each.  incr and cas are read-modify-write: they run inside
 * BEGIN IMMEDIATE, which takes the database's write lock before the read,
 * so no other connection - in this process or another - can write between
 * the read and the write.  A single UPSERT ... RETURNING was rejected:
 * "an expired row counts as missing", "a non-integer is an error that
 * leaves the value alone" and "overflow changes nothing" would all have
 * to be squeezed into SQL CASE expressions, with int64 overflow checked
 * by SQLite's floating-point promotion; in C they are the same few lines
 * the memory backend uses (parse_int, add_int below).  The
 * price, one lock round trip more, is small next to an LLM request.
 *
 * Concurrency.  One connection per store, behind one mutex, so every
 * function is thread-safe and the cached prepared statements are never
 * used by two threads at once.  Between processes SQLite's file locks
 * serialise writers; busy_timeout makes a writer wait (up to
 * BUSY_TIMEOUT_MS) instead of failing.  WAL journal mode lets readers
 * proceed while one process writes.  As with any SQLite connection, a
 * store must not be used across fork(): each process opens its own.
 *
 * Durability.  synchronous=NORMAL in WAL mode: a committed transaction
 * survives a crash of the process (it is in the WAL file), but a power
 * loss or OS crash may lose the last few transactions before the next
 * checkpoint syncs them.  The database itself is never corrupted.  For
 * spend counters that trade-off costs at most a few requests' worth of
 * accounting, for an fsync saved on every request.
 *
 * Expiry.  An expired row is invisible.  A read that meets one deletes it
 * (guarded by "AND expires_at <= now", so a row another process has just
 * rewritten is left alone); incr and cas overwrite it; and every
 * SWEEP_EVERY writes one DELETE removes all rows expired by now, so keys
 * nobody asks for again do not pile up.
 *
 * Errors.  Opening reports "cannot open: WHY" (the core puts
 * "sqlite:PATH: " before it); a file that
 * is not an SQLite database fails there.  Later SQLite failures (a lock
 * still held after the busy timeout, a full disk) are LR_E_INTERNAL,
 * LR_E_NOMEM when SQLite ran out of memory; a failed operation changes
 * nothing, since its transaction is rolled back.
 */
#include "llmroute_plugin.h"

#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHEMA_VERSION 1
#define BUSY_TIMEOUT_MS 5000
#define SWEEP_EVERY 256
#define NUM_LEN 24              /* any int64 in decimal, plus the NUL */

enum stmt_id {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_GET,
    ST_PUT,
    ST_UPDATE,
    ST_DEL,
    ST_DEL_EXPIRED,
    ST_SWEEP,
    N_STMT
};

static const char *const stmt_sql[N_STMT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_GET] = "SELECT value, expires_at FROM kv WHERE key = ?1",
    [ST_PUT] = "INSERT INTO kv(key, value, expires_at) VALUES (?1, ?2, ?3) "
               "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
               "expires_at = excluded.expires_at",
    [ST_UPDATE] = "UPDATE kv SET value = ?2 WHERE key = ?1",
    [ST_DEL] = "DELETE FROM kv WHERE key = ?1",
    [ST_DEL_EXPIRED] = "DELETE FROM kv WHERE key = ?1 AND expires_at <= ?2",
    [ST_SWEEP] = "DELETE FROM kv WHERE expires_at <= ?1",
};

static const char schema_v1[] =
    "CREATE TABLE IF NOT EXISTS kv(key TEXT PRIMARY KEY, "
    "value BLOB NOT NULL, expires_at INTEGER);"
    "CREATE INDEX IF NOT EXISTS kv_expires ON kv(expires_at) "
    "WHERE expires_at IS NOT NULL;"
    "PRAGMA user_version = 1;";

struct sql_store {
    const struct lr_host *h;    /* the wall clock and buffers */
    pthread_mutex_t mu;         /* guards everything below */
    sqlite3 *db;
    sqlite3_stmt *st[N_STMT];
    unsigned writes;            /* since open, for the sweep */
};

/* --- Integers (the core's store.c has the same rules) ------------------- */

/* Optional '-' then digits, fitting in int64_t; nothing else. */
static int parse_int(const char *s, size_t len, int64_t *out)
{
    size_t i = len && s[0] == '-' ? 1 : 0;
    int neg = i == 1;
    int64_t v = 0;
    if (i == len)
        return LR_E_INVALID_ARG;
    for (; i < len; i++) {
        int d = s[i] - '0';
        if (d < 0 || d > 9)
            return LR_E_INVALID_ARG;
        /* Accumulate negatively: INT64_MIN has no positive twin. */
        if (v < (INT64_MIN + d) / 10)
            return LR_E_INVALID_ARG;
        v = v * 10 - d;
    }
    if (!neg && v == INT64_MIN)
        return LR_E_INVALID_ARG;
    *out = neg ? v : -v;
    return LR_OK;
}

static int add_int(int64_t a, int64_t b, int64_t *out)
{
    if ((b > 0 && a > INT64_MAX - b) || (b < 0 && a < INT64_MIN - b))
        return LR_E_INVALID_ARG;
    *out = a + b;
    return LR_OK;
}

/* --- Statement helpers ------------------------------------------------- */

static int map_rc(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return LR_OK;
    case SQLITE_NOMEM:
        return LR_E_NOMEM;
    case SQLITE_TOOBIG:
        return LR_E_INVALID_ARG;
    default:
        return LR_E_INTERNAL;
    }
}

static void done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* Run a statement that returns no rows we need, then reset it. */
static int run(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    done(st);
    return map_rc(rc);
}

static int bind_blob(sqlite3_stmt *st, int i, const void *v, size_t len)
{
    if (len == 0)
        return sqlite3_bind_zeroblob(st, i, 0);
    return sqlite3_bind_blob64(st, i, v, len, SQLITE_STATIC);
}

/* ttl_ms 0: NULL (never); a TTL past the end of time saturates. */
static int bind_expiry(sqlite3_stmt *st, int i, int64_t now, int64_t ttl)
{
    if (ttl == 0)
        return sqlite3_bind_null(st, i);
    if (now > 0 && ttl > INT64_MAX - now)
        return sqlite3_bind_int64(st, i, INT64_MAX);
    return sqlite3_bind_int64(st, i, now + ttl);
}

/* The value column of the current ST_GET row; never a NULL pointer. */
static const void *row_value(sqlite3_stmt *st, size_t *len)
{
    const void *p = sqlite3_column_blob(st, 0);
    *len = (size_t)sqlite3_column_bytes(st, 0);
    return p ? p : "";
}

/*
 * Step ST_GET for key.  LR_OK leaves the live row in the statement;
 * LR_E_NOT_FOUND when it is missing or expired (*expired says which).
 * Either way the caller calls done() on ST_GET.
 */
static int read_row(struct sql_store *ss, const char *key, int64_t now,
                    int *expired)
{
    sqlite3_stmt *st = ss->st[ST_GET];
    *expired = 0;
    int rc = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (rc != SQLITE_OK)
        return map_rc(rc);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return LR_E_NOT_FOUND;
    if (rc != SQLITE_ROW)
        return map_rc(rc);
    if (sqlite3_column_type(st, 1) != SQLITE_NULL &&
        sqlite3_column_int64(st, 1) <= now) {
        *expired = 1;
        return LR_E_NOT_FOUND;
    }
    return LR_OK;
}

/* Write val with a fresh expiry, creating the row if needed. */
static int put(struct sql_store *ss, const char *key, const void *val,
               size_t len, int64_t now, int64_t ttl_ms)
{
    sqlite3_stmt *st = ss->st[ST_PUT];
    int rc = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = bind_blob(st, 2, val, len);
    if (rc == SQLITE_OK)
        rc = bind_expiry(st, 3, now, ttl_ms);
    if (rc != SQLITE_OK) {
        done(st);
        return map_rc(rc);
    }
    return run(st);
}

static int del_key(struct sql_store *ss, enum stmt_id id, const char *key,
                   int64_t now)
{
    sqlite3_stmt *st = ss->st[id];
    int rc = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && id == ST_DEL_EXPIRED)
        rc = sqlite3_bind_int64(st, 2, now);
    if (rc != SQLITE_OK) {
        done(st);
        return map_rc(rc);
    }
    return run(st);
}

/* --- Locking and transactions ------------------------------------------ */

static struct sql_store *lock(void *inst, int64_t *now)
{
    struct sql_store *ss = inst;
    *now = ss->h->wall_ms(ss->h);
    pthread_mutex_lock(&ss->mu);
    return ss;
}

static int unlock(struct sql_store *ss, int rc)
{
    pthread_mutex_unlock(&ss->mu);
    return rc;
}

/* After a write: now and then, drop every expired row.  A failed sweep
   is harmless (the next one catches up), so its result is ignored. */
static int unlock_write(struct sql_store *ss, int64_t now, int rc)
{
    if (++ss->writes % SWEEP_EVERY == 0) {
        sqlite3_stmt *st = ss->st[ST_SWEEP];
        if (sqlite3_bind_int64(st, 1, now) == SQLITE_OK)
            (void)run(st);
        else
            done(st);
    }
    return unlock(ss, rc);
}

/* End the transaction begun by ST_BEGIN: commit what op did (a cas
   mismatch may have removed an expired row), roll back on failure. */
static int finish(struct sql_store *ss, int rc)
{
    if (rc == LR_OK || rc == LR_STORE_CAS_MISMATCH) {
        int c = run(ss->st[ST_COMMIT]);
        if (c == LR_OK)
            return rc;
        rc = c;
    }
    if (!sqlite3_get_autocommit(ss->db))
        (void)run(ss->st[ST_ROLLBACK]);
    return rc;
}

/* --- Operations --------------------------------------------------------- */

static int sq_get(void *s, const char *key, struct lr_buf *out)
{
    if (!key || !out)
        return LR_E_INVALID_ARG;
    int64_t now;
    int expired;
    size_t len;
    struct sql_store *ss = lock(s, &now);
    int rc = read_row(ss, key, now, &expired);
    if (rc == LR_OK) {
        const void *p = row_value(ss->st[ST_GET], &len);
        rc = ss->h->buf_append(out, p, len);
    }
    done(ss->st[ST_GET]);
    if (expired)
        (void)del_key(ss, ST_DEL_EXPIRED, key, now);
    return unlock(ss, rc);
}

static int sq_set(void *s, const char *key, const void *val,
                  size_t len, int64_t ttl_ms)
{
    if (!key || (!val && len) || ttl_ms < 0)
        return LR_E_INVALID_ARG;
    int64_t now;
    struct sql_store *ss = lock(s, &now);
    return unlock_write(ss, now, put(ss, key, val, len, now, ttl_ms));
}

/* The live integer at key into *v: LR_OK, LR_E_NOT_FOUND (v untouched),
   LR_E_INVALID_ARG when the value is not a decimal integer. */
static int read_int(struct sql_store *ss, const char *key, int64_t now,
                    int64_t *v)
{
    int expired;
    size_t len;
    int rc = read_row(ss, key, now, &expired);
    if (rc == LR_OK) {
        const char *p = row_value(ss->st[ST_GET], &len);
        rc = parse_int(p, len, v);
    }
    done(ss->st[ST_GET]);
    return rc;
}

static int update(struct sql_store *ss, const char *key, const char *num,
                  size_t n)
{
    sqlite3_stmt *st = ss->st[ST_UPDATE];
    int rc = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = bind_blob(st, 2, num, n);
    if (rc != SQLITE_OK) {
        done(st);
        return map_rc(rc);
    }
    return run(st);
}

/* Inside the write transaction.  A missing or expired key starts from 0
   and takes ttl_ms; a live one keeps its expiry. */
static int do_incr(struct sql_store *ss, const char *key, int64_t delta,
                   int64_t ttl_ms, int64_t now, int64_t *out)
{
    char num[NUM_LEN];
    int64_t v = 0;
    int rc = read_int(ss, key, now, &v);
    int found = rc == LR_OK;
    if (rc != LR_OK && rc != LR_E_NOT_FOUND)
        return rc;
    if (add_int(v, delta, &v) != LR_OK)
        return LR_E_INVALID_ARG;
    size_t n = (size_t)snprintf(num, sizeof num, "%" PRId64, v);
    rc = found ? update(ss, key, num, n)
               : put(ss, key, num, n, now, ttl_ms);
    if (rc == LR_OK && out)
        *out = v;
    return rc;
}

static int sq_incr(void *s, const char *key, int64_t delta,
                   int64_t ttl_ms, int64_t *out)
{
    if (!key || ttl_ms < 0)
        return LR_E_INVALID_ARG;
    int64_t now;
    struct sql_store *ss = lock(s, &now);
    int rc = run(ss->st[ST_BEGIN]);
    if (rc == LR_OK)
        rc = finish(ss, do_incr(ss, key, delta, ttl_ms, now, out));
    return unlock_write(ss, now, rc);
}

struct cas_args {
    const void *expect;
    size_t expect_len;
    const void *val;
    size_t len;
    int64_t ttl_ms;
};

/* Inside the write transaction. */
static int do_cas(struct sql_store *ss, const char *key, int64_t now,
                  const struct cas_args *a)
{
    int expired;
    size_t len;
    int match = 0;
    int rc = read_row(ss, key, now, &expired);
    if (rc == LR_OK && a->expect) {
        const void *p = row_value(ss->st[ST_GET], &len);
        match = len == a->expect_len && memcmp(p, a->expect, len) == 0;
    }
    else if (rc == LR_E_NOT_FOUND) {
        match = !a->expect;
    }
    done(ss->st[ST_GET]);
    if (rc != LR_OK && rc != LR_E_NOT_FOUND)
        return rc;
    if (match)
        return put(ss, key, a->val, a->len, now, a->ttl_ms);
    if (expired && (rc = del_key(ss, ST_DEL, key, now)) != LR_OK)
        return rc;
    return LR_STORE_CAS_MISMATCH;
}

static int sq_cas(void *s, const char *key, const void *expect,
                  size_t expect_len, const void *val, size_t len,
                  int64_t ttl_ms)
{
    if (!key || (!val && len) || ttl_ms < 0)
        return LR_E_INVALID_ARG;
    struct cas_args a = { expect, expect_len, val, len, ttl_ms };
    int64_t now;
    struct sql_store *ss = lock(s, &now);
    int rc = run(ss->st[ST_BEGIN]);
    if (rc == LR_OK)
        rc = finish(ss, do_cas(ss, key, now, &a));
    return unlock_write(ss, now, rc);
}

static int sq_del(void *s, const char *key)
{
    if (!key)
        return LR_E_INVALID_ARG;
    int64_t now;
    struct sql_store *ss = lock(s, &now);
    return unlock_write(ss, now, del_key(ss, ST_DEL, key, now));
}

static void sq_close(void *inst)
{
    struct sql_store *ss = inst;
    for (int i = 0; i < N_STMT; i++)
        sqlite3_finalize(ss->st[i]);
    sqlite3_close_v2(ss->db);
    pthread_mutex_destroy(&ss->mu);
    free(ss);
}

/* --- Opening ------------------------------------------------------------ */

static int user_version(sqlite3 *db, int *out)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Bring the schema to SCHEMA_VERSION under the write lock, so two
   processes opening a new file at once create it once.  Returns an
   SQLite code; a too-new file sets *why. */
static int migrate(sqlite3 *db, const char **why)
{
    int v = 0;
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = user_version(db, &v);
    if (rc == SQLITE_OK && v > SCHEMA_VERSION) {
        *why = "schema version is newer than this build knows";
        rc = SQLITE_ERROR;
    }
    if (rc == SQLITE_OK && v < 1)
        rc = sqlite3_exec(db, schema_v1, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        return sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int setup(struct sql_store *ss, const char **why)
{
    int rc = sqlite3_busy_timeout(ss->db, BUSY_TIMEOUT_MS);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(ss->db, "PRAGMA journal_mode = WAL", NULL, NULL,
                          NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(ss->db, "PRAGMA synchronous = NORMAL", NULL,
                          NULL, NULL);
    if (rc == SQLITE_OK)
        rc = migrate(ss->db, why);
    for (int i = 0; i < N_STMT && rc == SQLITE_OK; i++)
        rc = sqlite3_prepare_v3(ss->db, stmt_sql[i], -1,
                                SQLITE_PREPARE_PERSISTENT, &ss->st[i],
                                NULL);
    return rc;
}

/* why may point into ss's connection: format it before closing. */
static int open_fail(struct sql_store *ss, const char *why, char *err,
                     size_t errlen)
{
    if (err && errlen)
        snprintf(err, errlen, "cannot open: %s", why);
    if (ss)
        sq_close(ss);
    return LR_E_CONFIG;
}

static int sq_open(const char *path, const struct lr_host *h, void **inst,
                   char *err, size_t errlen)
{
    const char *why = NULL;
    if (!path || !*path)
        return open_fail(NULL, "empty path", err, errlen);
    struct sql_store *ss = calloc(1, sizeof *ss);
    if (ss && pthread_mutex_init(&ss->mu, NULL) != 0) {
        free(ss);
        ss = NULL;
    }
    if (!ss)
        return open_fail(NULL, "out of memory", err, errlen);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path, &ss->db, flags, NULL);
    if (rc == SQLITE_OK)
        rc = setup(ss, &why);
    if (rc != SQLITE_OK)
        return open_fail(ss, why ? why : ss->db ? sqlite3_errmsg(ss->db)
                         : sqlite3_errstr(rc), err, errlen);
    ss->h = h;
    *inst = ss;
    return LR_OK;
}

static const struct lr_store_ops ops = {
    .arg_is_path = 1,
    .open = sq_open,
    .close = sq_close,
    .get = sq_get,
    .set = sq_set,
    .incr = sq_incr,
    .cas = sq_cas,
    .del = sq_del,
};

static const struct lr_plugin_desc desc = {
    LR_PLUGIN_HEADER,
    .name = "sqlite",
    .kind = LR_PLUGIN_STORE,
    .version = "1.0",
    .ops = &ops,
    .ops_size = sizeof ops,
};

/* The plugin's only exported symbol: it must do nothing but return the
   constant descriptor. */
LR_PLUGIN_EXPORT const struct lr_plugin_desc *lr_plugin_entry(void)
{
    return &desc;
}
