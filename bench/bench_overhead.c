/*
 * bench_overhead.c - what llmroute adds to one request, measured against
 * a raw libcurl request to the same zero-delay loopback mock upstream
 * with the same connection reuse.
 *
 *   bench_overhead [--plugins DIR] [--threads 1,16] [--requests 20000,40000]
 *                  [--rounds 5] [--warmup N] [--time-limit S]
 *                  [--mock-cpu N] [--bench-cpu N] [--port N]
 *                  [--label TEXT] [--json FILE]
 *
 * This program is the driver: it serves the mock (tests/mock) in its own
 * process, writes a temporary INI (one [target] with provider openai and
 * plugin_dir = DIR, default: the build's plugins folder), and runs
 * bench_client (next to this binary) once per mode, thread count and
 * round, each run a fresh process so that its peak RSS, CPU time and
 * context switches are its own.  The modes (see bench_client.c):
 *   raw       libcurl, prebuilt body, answer not parsed: the baseline;
 *   raw+json  libcurl plus a cJSON build and parse per call;
 *   llmroute  lr_complete().
 * Rounds interleave the modes (raw, raw+json, llmroute, raw, ...) so that
 * drift of a noisy machine hits all of them alike; each round sends
 * 1/rounds of the requests; p50/p99 are the median over rounds, sums
 * give throughput and per-request CPU.
 *
 * With --mock-cpu the driver pins itself before starting the mock, whose
 * threads inherit that CPU, and --bench-cpu pins the clients elsewhere:
 * the mock never competes with the client for a core.  --port uses a
 * mock that already runs (e.g. build/mock-upstream under taskset).
 * The driver checks that every mode put the same body and headers on
 * the wire and that the mock saw every request.  It prints a table, the
 * difference llmroute - raw at each thread count, and one JSON line
 * (also written to --json FILE).  Exit 0 when every run completed
 * without errors, whatever the figures.
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "llmroute.h"
#include "mock/mock_upstream.h"

#define MAX_LEVELS 4
#define MAX_ROUNDS 15
#define MODEL "bench-model"       /* as in bench_client.c */
#define SCRIPT "{\"routes\":[{\"name\":\"bench\",\"model\":\"" MODEL "\"," \
               "\"responses\":[{\"status\":200,\"text\":\"ok\"}]}]}"

enum mode { M_RAW, M_JSON, M_LR, N_MODES };
static const char *const mode_names[N_MODES] = {"raw", "raw+json",
                                                "llmroute"};
static const char *const mode_args[N_MODES] = {"raw", "rawjson",
                                               "llmroute"};

struct opts {
    const char *plugins, *json_path, *label;
    char client[PATH_MAX + 32], ini[PATH_MAX];
    int threads[MAX_LEVELS];
    long requests[MAX_LEVELS];
    size_t n_levels, n_requests;
    long warmup, rounds;
    double time_limit;
    int mock_cpu, bench_cpu, port;
};

/* One client run's figures, or their sum over rounds. */
struct result {
    long done, errors, csw, rss_kb;
    double wall_us, p50_us, p99_us, usr_us, sys_us;
};

/* One mode at one thread count. */
struct row {
    int mode, threads;
    struct result sum;                 /* sums; rss_kb the largest */
    double p50_us, p99_us;             /* medians over rounds */
    double round_p50[MAX_ROUNDS];
    long rounds;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* --- Options and set-up ---------------------------------------------- */

static int parse_list(const char *text, long *out, size_t max, size_t *n,
                      long lo, long hi)
{
    char *end;
    for (*n = 0; *n < max;) {
        errno = 0;
        long v = strtol(text, &end, 10);
        if (end == text || errno || v < lo || v > hi)
            return -1;
        out[(*n)++] = v;
        if (*end != ',')
            return *end ? -1 : 0;
        text = end + 1;
    }
    return -1;
}

static int parse_opt(struct opts *o, const char *a, const char *v)
{
    long l[MAX_LEVELS];
    size_t n = 0;
    if (strcmp(a, "--threads") == 0) {
        if (parse_list(v, l, MAX_LEVELS, &n, 1, 64))
            return -1;
        for (size_t i = 0; i < n; i++)
            o->threads[i] = (int)l[i];
        o->n_levels = n;
        return 0;
    }
    if (strcmp(a, "--requests") == 0)
        return parse_list(v, o->requests, MAX_LEVELS, &o->n_requests, 1,
                          1000000);
    if (strcmp(a, "--warmup") == 0)
        return parse_list(v, &o->warmup, 1, &n, 0, 100000);
    if (strcmp(a, "--rounds") == 0)
        return parse_list(v, &o->rounds, 1, &n, 1, MAX_ROUNDS);
    if (strcmp(a, "--time-limit") == 0)
        return (o->time_limit = atof(v)) > 0 && o->time_limit <= 600 ? 0
                                                                      : -1;
    if (strcmp(a, "--mock-cpu") == 0)
        o->mock_cpu = atoi(v);
    else if (strcmp(a, "--bench-cpu") == 0)
        o->bench_cpu = atoi(v);
    else if (strcmp(a, "--port") == 0)
        return (o->port = atoi(v)) > 0 && o->port < 65536 ? 0 : -1;
    else if (strcmp(a, "--plugins") == 0)
        o->plugins = v;
    else if (strcmp(a, "--json") == 0)
        o->json_path = v;
    else if (strcmp(a, "--label") == 0)
        o->label = v;
    else
        return -1;
    return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){.threads = {1, 16}, .requests = {20000, 40000},
                       .n_levels = 2, .n_requests = 2, .warmup = 1000,
                       .rounds = 5, .time_limit = 10, .mock_cpu = -1,
                       .bench_cpu = -1, .label = "default"};
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc || parse_opt(o, argv[i], argv[i + 1]) != 0) {
            fprintf(stderr, "bench_overhead: bad argument '%s'\n"
                    "usage: bench_overhead [--plugins DIR] [--threads 1,16]"
                    " [--requests 20000,40000] [--rounds N]\n"
                    "       [--warmup N] [--time-limit S] [--mock-cpu N] "
                    "[--bench-cpu N] [--port N]\n"
                    "       [--label TEXT] [--json FILE]\n", argv[i]);
            return -1;
        }
    }
    for (size_t i = o->n_requests; i < o->n_levels; i++)
        o->requests[i] = o->requests[o->n_requests - 1];
    return 0;
}

/* bench_client beside this binary; the plugins in ../plugins unless
   --plugins names a folder.  Both absolute. */
static int find_paths(struct opts *o, char *plugins)
{
    char exe[PATH_MAX], dir[PATH_MAX + 16];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    snprintf(o->client, sizeof o->client, "%s/bench_client", exe);
    if (access(o->client, X_OK) != 0)
        return -1;
    if (o->plugins)
        return realpath(o->plugins, plugins) ? 0 : -1;
    snprintf(dir, sizeof dir, "%s/../plugins", exe);
    return realpath(dir, plugins) ? 0 : -1;
}

static int write_ini(struct opts *o, const char *plugins)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(o->ini, sizeof o->ini, "%s/llmroute-bench-XXXXXX.ini",
             tmp ? tmp : "/tmp");
    int fd = mkstemps(o->ini, 4);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    fprintf(f, "[router]\nplugin_dir = %s\n\n[target bench]\n"
            "provider = openai\nmodel = " MODEL "\n"
            "base_url = http://127.0.0.1:%d/v1\n", plugins, o->port);
    return fclose(f) == 0 ? 0 : -1;
}

/* --- Running the clients ---------------------------------------------- */

/* Read the client's one line within timeout_s; kill it if it overruns. */
static int collect(pid_t pid, int fd, double timeout_s, char *line,
                   size_t len)
{
    size_t got = 0;
    int64_t end = now_ns() + (int64_t)(timeout_s * 1e9);
    while (got + 1 < len) {
        int64_t left_ms = (end - now_ns()) / 1000000;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left_ms <= 0 || poll(&p, 1, (int)left_ms) <= 0) {
            fprintf(stderr, "bench: client %d overran, killing it\n",
                    (int)pid);
            kill(pid, SIGKILL);
            break;
        }
        ssize_t n = read(fd, line + got, len - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    line[got] = '\0';
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int run_client(const struct opts *o, int mode, size_t level,
                      struct result *res)
{
    char t[16], rq[24], wu[24], tl[32], port[16], cpu[16], line[512];
    snprintf(t, sizeof t, "%d", o->threads[level]);
    snprintf(rq, sizeof rq, "%ld",
             (o->requests[level] + o->rounds - 1) / o->rounds);
    snprintf(wu, sizeof wu, "%ld", o->warmup);
    snprintf(tl, sizeof tl, "%g", o->time_limit);
    snprintf(port, sizeof port, "%d", o->port);
    snprintf(cpu, sizeof cpu, "%d", o->bench_cpu);
    char *args[] = {"bench_client", "--mode", (char *)mode_args[mode],
                    "--threads", t, "--requests", rq, "--warmup", wu,
                    "--time-limit", tl, "--port", port, "--cpu", cpu,
                    "--ini", (char *)o->ini, NULL};
    int fds[2];
    fflush(NULL);
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execv(o->client, args);
        _exit(127);
    }
    close(fds[1]);
    int rc = pid < 0 ? -1 : collect(pid, fds[0], 2 * o->time_limit + 60,
                                    line, sizeof line);
    close(fds[0]);
    *res = (struct result){0};
    if (rc == 0 && sscanf(line, "done=%ld errors=%ld wall_us=%lf "
                          "p50_us=%lf p99_us=%lf usr_us=%lf sys_us=%lf "
                          "csw=%ld rss_kb=%ld", &res->done, &res->errors,
                          &res->wall_us, &res->p50_us, &res->p99_us,
                          &res->usr_us, &res->sys_us, &res->csw,
                          &res->rss_kb) == 9)
        return 0;
    fprintf(stderr, "bench: %s at %d threads failed\n", mode_names[mode],
            o->threads[level]);
    return -1;
}

/* Body and the headers that matter, as the mock last saw them. */
static char *wire_print(struct mock_upstream *m)
{
    static const char *const names[] = {"content-type", "accept",
        "user-agent", "accept-encoding", "authorization", "expect"};
    char *body = mock_last_body(m, "bench");
    size_t len = 64 + (body ? strlen(body) : 0);
    char *v[6];
    for (size_t i = 0; i < 6; i++) {
        v[i] = mock_last_header(m, "bench", names[i]);
        len += v[i] ? strlen(v[i]) + 2 : 2;
    }
    char *out = malloc(len);
    if (out)
        snprintf(out, len, "%s|%s|%s|%s|%s|%s|%s", body ? body : "-",
                 v[0] ? v[0] : "-", v[1] ? v[1] : "-", v[2] ? v[2] : "-",
                 v[3] ? v[3] : "-", v[4] ? v[4] : "-", v[5] ? v[5] : "-");
    for (size_t i = 0; i < 6; i++)
        free(v[i]);
    free(body);
    return out;
}

static void add_round(struct row *w, const struct result *r)
{
    struct result *s = &w->sum;
    s->done += r->done;
    s->errors += r->errors;
    s->csw += r->csw;
    s->wall_us += r->wall_us;
    s->usr_us += r->usr_us;
    s->sys_us += r->sys_us;
    s->rss_kb = r->rss_kb > s->rss_kb ? r->rss_kb : s->rss_kb;
    w->round_p50[w->rounds++] = r->p50_us;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, long n)
{
    double s[MAX_ROUNDS];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* One round: every mode once at one thread count. */
static int run_round(const struct opts *o, struct mock_upstream *m,
                     size_t l, struct row *rows, double p99[][MAX_ROUNDS],
                     char **seen)
{
    int bad = 0;
    for (int k = 0; k < N_MODES; k++) {
        struct row *w = &rows[l * N_MODES + (size_t)k];
        struct result r;
        long before = m ? mock_requests(m, NULL) : 0;
        bad |= run_client(o, k, l, &r) != 0 || r.errors;
        if (m && mock_requests(m, NULL) - before < r.done) {
            fprintf(stderr, "bench: the mock saw fewer requests than %s "
                    "made\n", mode_names[k]);
            bad = 1;
        }
        if (m && !seen[k])
            seen[k] = wire_print(m);
        p99[k][w->rounds] = r.p99_us;
        add_round(w, &r);
    }
    return bad;
}

/* Every round of every mode at every level; 0 when all ran cleanly. */
static int run_all(const struct opts *o, struct mock_upstream *m,
                   struct row *rows, char *wire, size_t wirelen)
{
    int bad = 0;
    char *seen[N_MODES] = {NULL};
    for (size_t l = 0; l < o->n_levels; l++) {
        double p99[N_MODES][MAX_ROUNDS];
        for (int k = 0; k < N_MODES; k++)
            rows[l * N_MODES + (size_t)k] = (struct row){
                .mode = k, .threads = o->threads[l]};
        for (long i = 0; i < o->rounds; i++)
            bad |= run_round(o, m, l, rows, p99, seen);
        for (int k = 0; k < N_MODES; k++) {
            struct row *w = &rows[l * N_MODES + (size_t)k];
            w->p50_us = median(w->round_p50, w->rounds);
            w->p99_us = median(p99[k], w->rounds);
        }
        fprintf(stderr, "bench: %d thread(s) done\n", o->threads[l]);
    }
    int same = seen[M_RAW] && seen[M_JSON] && seen[M_LR] &&
               !strcmp(seen[M_RAW], seen[M_JSON]) &&
               !strcmp(seen[M_RAW], seen[M_LR]);
    snprintf(wire, wirelen, "%s", !m ? "not checked (external mock)"
             : same ? "same body and headers in every mode" : "DIFFERS");
    for (int k = 0; k < N_MODES; k++) {
        if (m && !same)
            fprintf(stderr, "bench: %s sent %s\n", mode_names[k],
                    seen[k] ? seen[k] : "?");
        free(seen[k]);
    }
    return bad || (m && !same);
}

/* --- Report ----------------------------------------------------------- */

static double per_req(double v, const struct row *w)
{
    return w->sum.done ? v / (double)w->sum.done : 0;
}

/* v rounded to 1/scale, for the JSON line. */
static double round_to(double v, double scale)
{
    return (double)(long long)(v * scale + (v < 0 ? -0.5 : 0.5)) / scale;
}

static double round1(double v)
{
    return round_to(v, 10);
}

static void print_row(const struct row *w)
{
    const struct result *s = &w->sum;
    double lo = w->round_p50[0], hi = lo;
    for (long i = 1; i < w->rounds; i++) {
        lo = w->round_p50[i] < lo ? w->round_p50[i] : lo;
        hi = w->round_p50[i] > hi ? w->round_p50[i] : hi;
    }
    printf("%7d %-9s %8ld %4ld %8.0f %6.1f %7.1f (%4.0f-%4.0f) %7.1f "
           "%6.1f (%4.1f+%5.1f) %5.2f %8ld\n", w->threads,
           mode_names[w->mode], s->done, s->errors,
           s->wall_us > 0 ? (double)s->done * 1e6 / s->wall_us : 0,
           per_req(s->wall_us, w), w->p50_us, lo, hi, w->p99_us,
           per_req(s->usr_us + s->sys_us, w), per_req(s->usr_us, w),
           per_req(s->sys_us, w), per_req((double)s->csw, w), s->rss_kb);
}

static cJSON *row_json(const struct row *w)
{
    const struct result *s = &w->sum;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "mode", mode_names[w->mode]);
    cJSON_AddNumberToObject(o, "threads", w->threads);
    cJSON_AddNumberToObject(o, "requests", (double)s->done);
    cJSON_AddNumberToObject(o, "errors", (double)s->errors);
    cJSON_AddNumberToObject(o, "req_per_s", round1(s->wall_us > 0 ?
                            (double)s->done * 1e6 / s->wall_us : 0));
    cJSON_AddNumberToObject(o, "us_per_req", round1(per_req(s->wall_us, w)));
    cJSON_AddNumberToObject(o, "p50_us", round1(w->p50_us));
    cJSON_AddNumberToObject(o, "p99_us", round1(w->p99_us));
    cJSON_AddNumberToObject(o, "cpu_us_per_req",
                            round1(per_req(s->usr_us + s->sys_us, w)));
    cJSON_AddNumberToObject(o, "usr_us_per_req",
                            round1(per_req(s->usr_us, w)));
    cJSON_AddNumberToObject(o, "sys_us_per_req",
                            round1(per_req(s->sys_us, w)));
    cJSON_AddNumberToObject(o, "csw_per_req",
                            round1(per_req((double)s->csw, w)));
    cJSON_AddNumberToObject(o, "peak_rss_kb", (double)s->rss_kb);
    return o;
}

/* llmroute against raw (and raw+json) at one thread count. */
static cJSON *added(const struct row *raw, const struct row *js,
                    const struct row *lr)
{
    double d = lr->p50_us - raw->p50_us, dj = lr->p50_us - js->p50_us;
    double ratio = raw->p50_us > 0 ? lr->p50_us / raw->p50_us : 0;
    double dq = per_req(lr->sum.wall_us, lr) - per_req(raw->sum.wall_us, raw);
    double du = per_req(lr->sum.usr_us, lr) - per_req(raw->sum.usr_us, raw);
    double ds = per_req(lr->sum.sys_us, lr) - per_req(raw->sum.sys_us, raw);
    double dc = per_req((double)lr->sum.csw, lr) -
                per_req((double)raw->sum.csw, raw);
    long dr = lr->sum.rss_kb - raw->sum.rss_kb;
    printf("%2d thread%s llmroute - raw: p50 %+.1f us (x%.2f), wall/request"
           " %+.1f us, CPU/request %+.1f us\n            (user %+.1f, "
           "system %+.1f), context switches/request %+.2f, peak RSS %+ld kB"
           "\n            llmroute - raw+json: p50 %+.1f us.\n",
           lr->threads, lr->threads == 1 ? ": " : "s:", d, ratio, dq,
           du + ds, du, ds, dc, dr, dj);
    /* The goal is a cost per request.  With one caller that is the p50
       difference.  N callers in a closed loop queue, so their p50 is
       about N requests' worth (N x wall/request): there the cost per
       request is the wall/request difference, and the p50 difference,
       printed above, is N times it. */
    double cost = lr->threads == 1 ? d : dq;
    printf("            Goal, at most 10 us added per request (%s): "
           "%+.1f us, %s\n", lr->threads == 1 ? "p50 difference"
           : "wall/request difference; p50 is about N x wall/request",
           cost, cost <= 10 ? "MET" : "MISSED");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "threads", lr->threads);
    cJSON_AddNumberToObject(o, "p50_added_us", round1(d));
    cJSON_AddNumberToObject(o, "p50_ratio", round_to(ratio, 100));
    cJSON_AddNumberToObject(o, "us_per_req_added", round1(dq));
    cJSON_AddNumberToObject(o, "cpu_us_per_req_added", round1(du + ds));
    cJSON_AddNumberToObject(o, "usr_us_per_req_added", round1(du));
    cJSON_AddNumberToObject(o, "sys_us_per_req_added", round1(ds));
    cJSON_AddNumberToObject(o, "csw_per_req_added", round1(dc));
    cJSON_AddNumberToObject(o, "peak_rss_kb_added", (double)dr);
    cJSON_AddNumberToObject(o, "p50_added_over_raw_json_us", round1(dj));
    cJSON_AddNumberToObject(o, "goal_cost_us", round1(cost));
    cJSON_AddBoolToObject(o, "goal_10us_met", cost <= 10);
    return o;
}

static void report(const struct opts *o, const struct row *rows,
                   const char *wire)
{
    size_t n = o->n_levels * N_MODES;
    printf("\nthreads mode      requests  err    req/s us/req  p50 us "
           "(rounds)   p99 us  CPU us/req (usr+sys) csw/req peak RSS kB\n");
    for (size_t i = 0; i < n; i++)
        print_row(&rows[i]);
    printf("\n");
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "bench", "overhead");
    cJSON_AddStringToObject(root, "label", o->label);
    cJSON_AddNumberToObject(root, "cpus",
                            (double)sysconf(_SC_NPROCESSORS_ONLN));
    cJSON_AddStringToObject(root, "curl",
                            curl_version_info(CURLVERSION_NOW)->version);
    cJSON_AddNumberToObject(root, "mock_cpu", o->mock_cpu);
    cJSON_AddNumberToObject(root, "bench_cpu", o->bench_cpu);
    cJSON_AddNumberToObject(root, "rounds", (double)o->rounds);
    cJSON_AddStringToObject(root, "raw_parses", "no (raw+json: cJSON)");
    cJSON_AddStringToObject(root, "wire_check", wire);
    cJSON *arr = cJSON_AddArrayToObject(root, "results");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, row_json(&rows[i]));
    arr = cJSON_AddArrayToObject(root, "added");
    for (size_t i = 0; i < n; i += N_MODES)
        cJSON_AddItemToArray(arr, added(&rows[i + M_RAW],
                                        &rows[i + M_JSON], &rows[i + M_LR]));
    char *s = cJSON_PrintUnformatted(root);
    printf("\n%s\n", s ? s : "{}");
    FILE *f = o->json_path && s ? fopen(o->json_path, "w") : NULL;
    if (f) {
        fprintf(f, "%s\n", s);
        fclose(f);
    }
    free(s);
    cJSON_Delete(root);
}

/* --- main ------------------------------------------------------------- */

static void pin_self(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0)
        fprintf(stderr, "bench: cannot pin to CPU %d: %s\n", cpu,
                strerror(errno));
}

static void cpu_name(int cpu, char *out, size_t len)
{
    if (cpu < 0)
        snprintf(out, len, "any CPU");
    else
        snprintf(out, len, "CPU %d", cpu);
}

static void banner(const struct opts *o, int in_process)
{
    char mc[16], bc[16];
    cpu_name(o->mock_cpu, mc, sizeof mc);
    cpu_name(o->bench_cpu, bc, sizeof bc);
    printf("llmroute %s request overhead [%s]: %s mock on 127.0.0.1:%d "
           "(%s), clients on %s, %ld CPUs online, libcurl %s\n",
           LR_VERSION, o->label, in_process ? "in-process" : "external",
           o->port, mc, bc, sysconf(_SC_NPROCESSORS_ONLN),
           curl_version_info(CURLVERSION_NOW)->version);
    printf("raw: libcurl, prebuilt body, answer not parsed; raw+json: "
           "cJSON build and parse per call; llmroute: lr_complete().\n"
           "%ld interleaved rounds; p50/p99 are medians over rounds "
           "(p50 range in brackets), the rest sums.\n", o->rounds);
}

int main(int argc, char **argv)
{
    struct opts o;
    char plugins[PATH_MAX], err[512], wire[128];
    struct mock_upstream *m = NULL;
    if (parse_args(argc, argv, &o) != 0)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    if (find_paths(&o, plugins) != 0) {
        fprintf(stderr, "bench: no bench_client or plugin folder: %s\n",
                strerror(errno));
        return 1;
    }
    if (o.mock_cpu >= 0)
        pin_self(o.mock_cpu);   /* the mock's threads inherit it */
    if (!o.port && !(m = mock_start(SCRIPT, err, sizeof err))) {
        fprintf(stderr, "bench: mock: %s\n", err);
        return 1;
    }
    o.port = m ? mock_port(m) : o.port;
    if (write_ini(&o, plugins) != 0) {
        fprintf(stderr, "bench: cannot write the INI: %s\n", strerror(errno));
        mock_stop(m);
        return 1;
    }
    banner(&o, m != NULL);
    struct row rows[MAX_LEVELS * N_MODES];
    int bad = run_all(&o, m, rows, wire, sizeof wire);
    printf("wire check: %s\n", wire);
    report(&o, rows, wire);
    unlink(o.ini);
    mock_stop(m);
    return bad ? 1 : 0;
}
