/*
 * test_crash_budget.c - crash-safe accounting (issue 6): `llmroute batch`
 * with a budget_guard on a `sqlite:` store is killed with SIGKILL in the
 * middle of a load, several times, and resumed.  Checked from outside,
 * by reading the SQLite file the way any other process would:
 *
 *   - no settled spend is lost: after every kill the day's settled counter
 *     holds at least the cost of every answer already in OUT (an answer is
 *     written only after its cost was settled and committed);
 *   - nothing is invented: it holds at most that plus what the requests in
 *     flight at each kill could have cost (concurrency x one answer);
 *   - no reservation is stuck: every reservation a killed process left
 *     expires within reservation_ttl_ms (+ one bucket); just after a kill
 *     a tight budget refuses (the orphans still count), once they expire
 *     the same request passes;
 *   - resuming loses and repeats nothing: every id ends up in OUT once.
 *
 * No timing assertions: the mock's delay only makes each run last long
 * enough for the kill to land mid-flight, and every wait is bounded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "cli_run.h"
#include "mock_upstream.h"
#include "testenv.h"

#define N_REQ 240
#define CONC 8
#define KILLS 3
#define TTL_MS 2000
#define RUN_TIMEOUT_MS 60000
/* 100 prompt tokens at $1/Mtok + 50 completion tokens at $2/Mtok. */
#define COST_NANO 200000LL

#define SCRIPT                                                             \
    "{\"routes\":[{\"name\":\"m\",\"model\":\"m\",\"responses\":[{"        \
    "\"text\":\"ok\",\"delay_ms\":40,\"usage\":{\"prompt_tokens\":100,"    \
    "\"completion_tokens\":50}}]}]}"

#define INI_FMT                                                            \
    "[router]\nplugin_dir = .\ntimeout_ms = 30000\nstore = sqlite:%s\n"    \
    "pipeline = budget\n\n"                                                \
    "[policy budget]\nplugin = budget_guard\ndaily_usd = %.9f\n"           \
    "reservation_ttl_ms = %d\n\n"                                          \
    "[target t]\nprovider = openai\nmodel = m\n"                          \
    "base_url = http://127.0.0.1:%d/v1\n"                                  \
    "input_usd_per_mtok = 1\noutput_usd_per_mtok = 2\n"

struct fx {
    struct tenv env;
    struct mock_upstream *mock;
    char db[512], ini[512], tight[512], in[512], out[512];
};

static int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void write_ini(struct fx *f, const char *name, double daily_usd,
                      char *path)
{
    const char *p = tenv_write(&f->env, name, INI_FMT, f->db, daily_usd,
                               TTL_MS, mock_port(f->mock));
    assert_non_null(p);
    snprintf(path, 512, "%s", p);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    *state = f;
    if (cli_env_start(&f->env, &f->mock, SCRIPT) != 0)
        return -1;
    snprintf(f->db, sizeof f->db, "%s", tenv_file(&f->env, "state.db"));
    snprintf(f->out, sizeof f->out, "%s", tenv_file(&f->env, "out.jsonl"));
    char *in = malloc(N_REQ * 48);
    if (!in)
        return -1;
    size_t len = 0;
    for (int i = 0; i < N_REQ; i++)
        len += (size_t)snprintf(in + len, 48, "{\"id\":\"r%d\",\"prompt\":"
                                "\"hi %d\"}\n", i, i);
    const char *p = tenv_write(&f->env, "in.jsonl", "%s", in);
    free(in);
    if (!p)
        return -1;
    snprintf(f->in, sizeof f->in, "%s", p);
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f)
        cli_env_stop(&f->env, f->mock);
    free(f);
    return 0;
}

/* --- Reading the state as another process would ----------------------- */

/* Sum of the integer values of the live keys matching pattern (SQL LIKE),
   and the latest expiry among those holding a nonzero value. */
static int64_t store_sum(const char *db, const char *pattern,
                         int64_t *max_expiry)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    sqlite3_busy_timeout(h, 5000);
    assert_int_equal(sqlite3_prepare_v2(h,
                         "SELECT CAST(value AS TEXT), expires_at FROM kv "
                         "WHERE key LIKE ?1 AND (expires_at IS NULL OR "
                         "expires_at > ?2)", -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, pattern, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, wall_ms());
    int64_t sum = 0;
    if (max_expiry)
        *max_expiry = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        int64_t v = strtoll((const char *)sqlite3_column_text(st, 0), NULL,
                            10);
        int64_t exp = sqlite3_column_int64(st, 1);
        sum += v;
        if (max_expiry && v != 0 && exp > *max_expiry)
            *max_expiry = exp;
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    return sum;
}

static int64_t settled_nano(struct fx *f)
{
    return store_sum(f->db, "%spent/all/day/%", NULL);
}

/* Cost of the complete lines of OUT in nano-USD; *n gets their number and
   each id must appear once.  A torn last line (the kill landed in the
   middle of a write) is not counted: the next run repairs it. */
static int64_t out_cost_nano(struct fx *f, int *n)
{
    char *text = tenv_slurp(f->out);
    int64_t sum = 0;
    static char seen[N_REQ];
    memset(seen, 0, sizeof seen);
    *n = 0;
    for (char *p = text, *nl; p && (nl = strchr(p, '\n')); p = nl + 1) {
        *nl = '\0';
        cJSON *o = cJSON_Parse(p);
        if (!o)
            continue;        /* a torn line later completed by the repair */
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
        const cJSON *cost = cJSON_GetObjectItemCaseSensitive(o, "cost_usd");
        assert_true(cJSON_IsString(id) && cJSON_IsNumber(cost));
        int k = atoi(id->valuestring + 1);
        assert_true(k >= 0 && k < N_REQ);
        if (seen[k])
            fail_msg("id %s is in OUT twice", id->valuestring);
        seen[k] = 1;
        sum += llround(cost->valuedouble * 1e9);
        (*n)++;
        cJSON_Delete(o);
    }
    free(text);
    return sum;
}

/* --- Runs --------------------------------------------------------------- */

/* Start a batch run and SIGKILL it once OUT holds `until` more lines. */
static void run_and_kill(struct fx *f, int until)
{
    int before;
    out_cost_nano(f, &before);
    struct cli_child c;
    cli_spawn(&c, RUN_TIMEOUT_MS, NULL, "batch", "-c", f->ini, "--in", f->in,
              "--out", f->out, "--concurrency", "8", NULL);
    for (int n = before; n < before + until;) {
        if (!cli_pump(&c, 10))
            fail_msg("batch ended before it could be killed");
        out_cost_nano(f, &n);
    }
    kill(c.pid, SIGKILL);
    struct cli_run r;
    cli_finish(&c, &r);
    assert_int_equal(r.code, -1);
    cli_run_free(&r);
}

static void check_bounds(struct fx *f, int kills)
{
    int n;
    int64_t out = out_cost_nano(f, &n);
    int64_t settled = settled_nano(f);
    print_message("after %d kill(s): %d answers in OUT ($%.6f), settled "
                  "$%.6f\n", kills, n, out / 1e9, settled / 1e9);
    assert_true(settled >= out);
    assert_true(settled <= out + (int64_t)kills * CONC * COST_NANO);
}

static int chat_exit(const char *ini)
{
    struct cli_run r;
    cli_run(&r, RUN_TIMEOUT_MS, NULL, "chat", "-c", ini, "--max-tokens",
            "1000", "one more", NULL);
    int code = r.code;
    if (code != 0)
        print_message("chat: exit %d: %s", code, r.err);
    cli_run_free(&r);
    return code;
}

static void kill9_loses_no_spend_and_strands_nothing(void **state)
{
    struct fx *f = *state;
    write_ini(f, "loose.ini", 1000.0, f->ini);
    for (int k = 1; k <= KILLS; k++) {
        run_and_kill(f, 30);
        check_bounds(f, k);
    }

    /* Orphaned reservations: present now, gone after their expiry. */
    int64_t killed_at = wall_ms(), expiry;
    int64_t resv = store_sum(f->db, "%resv/all/day/%", &expiry);
    print_message("reserved after the last kill: $%.6f, expiring by +%"
                  PRId64 " ms\n", resv / 1e9, expiry - killed_at);
    assert_true(resv > 0);
    assert_true(expiry <= killed_at + TTL_MS + TTL_MS / 10 + 1000);

    /* Room for one more request's worst case (about $0.002 with
       max_tokens 1000), not for it plus the orphans (at least one more
       worst case each). */
    double room = (double)(settled_nano(f) + 3000000) / 1e9;
    write_ini(f, "tight.ini", room, f->tight);
    assert_int_equal(chat_exit(f->tight), 4);
    for (int64_t end = killed_at + 10000; wall_ms() < end;) {
        if (store_sum(f->db, "%resv/all/day/%", NULL) == 0)
            break;
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(store_sum(f->db, "%resv/all/day/%", NULL), 0);
    assert_int_equal(chat_exit(f->tight), 0);

    /* A last run finishes the file: every id once, spend within bounds. */
    struct cli_run r;
    cli_run(&r, RUN_TIMEOUT_MS, NULL, "batch", "-c", f->ini, "--in", f->in,
            "--out", f->out, "--concurrency", "8", NULL);
    assert_int_equal(r.code, 0);
    cli_run_free(&r);
    int n;
    int64_t out = out_cost_nano(f, &n);
    assert_int_equal(n, N_REQ);
    int64_t settled = settled_nano(f) - COST_NANO; /* the chat answered */
    assert_true(settled >= out);
    assert_true(settled <= out + (int64_t)KILLS * CONC * COST_NANO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            kill9_loses_no_spend_and_strands_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
