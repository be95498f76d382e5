/*
 * bench_client.c - one measured client process of the overhead benchmark
 * (bench_overhead.c runs it; it can also be run by hand):
 *
 *   bench_client --mode raw|rawjson|llmroute --port N [--ini FILE]
 *                [--threads T] [--requests R] [--warmup W]
 *                [--time-limit S] [--cpu N]
 *
 * T caller threads each send R/T requests in a closed loop to the mock
 * upstream on 127.0.0.1:N, after W/T warm-up requests each:
 *   raw       one CURL easy handle per thread, kept alive, POSTing a
 *             prebuilt copy of the body llmroute's openai provider sends,
 *             with the same headers and curl options as core/transfer.c;
 *             the answer is collected into a reused buffer, not parsed.
 *   rawjson   the same, but each call builds the body with cJSON and
 *             parses the answer (text and usage) with cJSON: the least a
 *             real application without llmroute would do.
 *   llmroute  lr_complete() on one router (lr_open(FILE)) shared by all
 *             threads, one reused lr_request per thread,
 *             lr_response_free() after each call.
 * Each call is timed with CLOCK_MONOTONIC and every sample kept.  On exit
 * one line goes to stdout:
 *   done= errors= wall_us= p50_us= p99_us= usr_us= sys_us= csw= rss_kb=
 * wall, CPU (user and system, every thread of the process, llmroute's
 * engine included) and context switches (voluntary + involuntary) cover
 * the measured phase only; rss_kb is the process's peak (VmHWM).  Every
 * loop is bounded by its request count and by S seconds per phase.
 * Exit 0 when the line was printed (errors may still be nonzero).
 */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "llmroute.h"

#define MAX_THREADS 64
#define MAX_REQUESTS 1000000L
#define MODEL "bench-model"       /* as in bench_overhead.c */
#define PROMPT "Say ok."
/* What provider_openai builds for PROMPT and no options. */
#define WIRE_BODY "{\"model\":\"" MODEL "\",\"messages\":[{\"role\":" \
                  "\"user\",\"content\":\"" PROMPT "\"}]}"

enum mode { M_RAW, M_JSON, M_LR, N_MODES };
static const char *const mode_args[N_MODES] = {"raw", "rawjson",
                                               "llmroute"};

struct opts {
    enum mode mode;
    const char *ini;
    int port, threads, cpu;
    long requests, warmup;
    double time_limit;
};

/* Shared by the threads. */
struct run {
    enum mode mode;
    char url[96];
    struct curl_slist *hdrs;
    struct lr_router *router;
    long warm_each, want_each;
    int64_t limit_ns;                  /* per phase */
    int64_t warm_deadline, deadline;   /* ns, CLOCK_MONOTONIC */
    pthread_barrier_t ready, go;
};

struct sink {
    char *data;
    size_t len, cap;
};

struct worker {
    pthread_t th;
    struct run *run;
    CURL *easy;
    struct sink body;
    struct lr_request *req;
    uint64_t *lat_ns;
    long n_lat, errors;
};

/* What the measured phase cost. */
struct figures {
    long done, errors, csw, rss_kb;
    double wall_us, p50_us, p99_us, usr_us, sys_us;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Run on that CPU only; -1 keeps the affinity inherited. */
static void pin(int cpu)
{
    cpu_set_t set;
    if (cpu < 0)
        return;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0)
        fprintf(stderr, "bench_client: cannot pin to CPU %d: %s\n", cpu,
                strerror(errno));
}

/* --- One call per mode ------------------------------------------------ */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct sink *s = ud;
    size_t len = size * n;
    if (s->len + len + 1 > s->cap) {
        size_t cap = (s->len + len + 1) * 2;
        char *d = realloc(s->data, cap);
        if (!d)
            return 0;
        s->data = d;
        s->cap = cap;
    }
    memcpy(s->data + s->len, p, len);
    s->len += len;
    s->data[s->len] = '\0';
    return len;
}

/* The options transfer.c sets, so both clients put the same bytes on
   the wire (same headers, same body). */
static CURL *easy_new(struct worker *w)
{
    CURL *e = curl_easy_init();
    if (!e)
        return NULL;
    curl_easy_setopt(e, CURLOPT_URL, w->run->url);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, WIRE_BODY);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)strlen(WIRE_BODY));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, w->run->hdrs);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "llmroute/" LR_VERSION);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &w->body);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 60000L);
    return e;
}

static int perform(struct worker *w)
{
    long code = 0;
    w->body.len = 0;
    if (curl_easy_perform(w->easy) != CURLE_OK)
        return -1;
    curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &code);
    return code == 200 && w->body.len ? 0 : -1;
}

static char *json_body(void)
{
    cJSON *root = cJSON_CreateObject(), *msgs, *m;
    if (!root)
        return NULL;
    cJSON_AddStringToObject(root, "model", MODEL);
    msgs = cJSON_AddArrayToObject(root, "messages");
    m = cJSON_CreateObject();
    if (msgs && m && cJSON_AddItemToArray(msgs, m)) {
        cJSON_AddStringToObject(m, "role", "user");
        cJSON_AddStringToObject(m, "content", PROMPT);
    }
    else
        cJSON_Delete(m);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

/* raw+json: what an application does by hand, minimally. */
static int call_json(struct worker *w)
{
    char *body = json_body();
    if (!body)
        return -1;
    curl_easy_setopt(w->easy, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(w->easy, CURLOPT_POSTFIELDSIZE_LARGE,
                     (curl_off_t)strlen(body));
    int rc = perform(w);
    free(body);
    cJSON *root = rc == 0 ? cJSON_ParseWithLength(w->body.data,
                                                  w->body.len) : NULL;
    cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "choices"), 0);
    cJSON *msg = cJSON_GetObjectItem(ch, "message");
    cJSON *text = cJSON_GetObjectItem(msg, "content");
    cJSON *usage = cJSON_GetObjectItem(root, "usage");
    cJSON *toks = cJSON_GetObjectItem(usage, "completion_tokens");
    rc = cJSON_IsString(text) && cJSON_IsNumber(toks) ? 0 : -1;
    cJSON_Delete(root);
    return rc;
}

static int call_lr(struct worker *w)
{
    struct lr_response *resp = NULL;
    int st = lr_complete(w->run->router, w->req, &resp);
    int rc = st == LR_OK && resp && lr_response_text(resp)[0] ? 0 : -1;
    lr_response_free(resp);
    return rc;
}

static int call(struct worker *w)
{
    switch (w->run->mode) {
    case M_RAW:
        return perform(w);
    case M_JSON:
        return call_json(w);
    default:
        return call_lr(w);
    }
}

/* --- Threads, samples, figures ---------------------------------------- */

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct run *r = w->run;
    for (long i = 0; i < r->warm_each && now_ns() < r->warm_deadline; i++)
        if (call(w) != 0)
            w->errors++;
    w->errors = 0;     /* warm-up failures show up again below */
    pthread_barrier_wait(&r->ready);
    pthread_barrier_wait(&r->go);
    for (long i = 0; i < r->want_each; i++) {
        int64_t t0 = now_ns();
        if (t0 >= r->deadline)
            break;
        int rc = call(w);
        int64_t t1 = now_ns();
        if (rc == 0)
            w->lat_ns[w->n_lat++] = (uint64_t)(t1 - t0);
        else
            w->errors++;
    }
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[n], in microseconds. */
static double pct_us(const uint64_t *v, long n, double p)
{
    if (n <= 0)
        return 0;
    long k = (long)(p * (double)n + 0.999999) - 1;
    k = k < 0 ? 0 : k >= n ? n - 1 : k;
    return (double)v[k] / 1000.0;
}

static long vm_hwm_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

static double tv_us(struct timeval tv)
{
    return (double)tv.tv_sec * 1e6 + (double)tv.tv_usec;
}

/* Subtract the usage at the start of the phase from the usage now. */
static void usage_since(const struct rusage *r0, struct figures *f)
{
    struct rusage r1;
    getrusage(RUSAGE_SELF, &r1);
    f->usr_us = tv_us(r1.ru_utime) - tv_us(r0->ru_utime);
    f->sys_us = tv_us(r1.ru_stime) - tv_us(r0->ru_stime);
    f->csw = (r1.ru_nvcsw + r1.ru_nivcsw) - (r0->ru_nvcsw + r0->ru_nivcsw);
}

/* Every worker's samples, sorted, into p50/p99. */
static void percentiles(const struct worker *w, int n, struct figures *f)
{
    long total = 0, k = 0;
    for (int i = 0; i < n; i++) {
        total += w[i].n_lat;
        f->errors += w[i].errors;
    }
    uint64_t *all = malloc(((size_t)total + 1) * sizeof *all);
    if (!all)
        return;
    for (int i = 0; i < n; i++) {
        memcpy(all + k, w[i].lat_ns, (size_t)w[i].n_lat * sizeof *all);
        k += w[i].n_lat;
    }
    qsort(all, (size_t)k, sizeof *all, cmp_u64);
    f->done = k;
    f->p50_us = pct_us(all, k, 0.50);
    f->p99_us = pct_us(all, k, 0.99);
    free(all);
}

/* Start the threads, time the measured phase between the barriers. */
static int measure(struct run *r, struct worker *w, int n,
                   struct figures *f)
{
    r->warm_deadline = now_ns() + r->limit_ns;
    for (int i = 0; i < n; i++) {
        if (pthread_create(&w[i].th, NULL, worker_main, &w[i]) != 0) {
            fprintf(stderr, "bench_client: cannot start thread %d\n", i);
            return -1;   /* the barriers would never open: exit */
        }
    }
    pthread_barrier_wait(&r->ready);
    struct rusage r0;
    getrusage(RUSAGE_SELF, &r0);
    int64_t t0 = now_ns();
    r->deadline = t0 + r->limit_ns;    /* published by the barrier */
    pthread_barrier_wait(&r->go);
    for (int i = 0; i < n; i++)
        pthread_join(w[i].th, NULL);
    f->wall_us = (double)(now_ns() - t0) / 1000.0;
    usage_since(&r0, f);
    percentiles(w, n, f);
    return 0;
}

static int setup_workers(struct run *r, struct worker *w, int n)
{
    for (int i = 0; i < n; i++) {
        w[i].run = r;
        w[i].lat_ns = calloc((size_t)r->want_each + 1, sizeof *w[i].lat_ns);
        if (!w[i].lat_ns)
            return -1;
        if (r->mode == M_LR) {
            w[i].req = lr_request_new();
            if (!w[i].req || lr_request_set_prompt(w[i].req, PROMPT))
                return -1;
        }
        else if (!(w[i].easy = easy_new(&w[i])))
            return -1;
    }
    return 0;
}

static void free_workers(struct worker *w, int n)
{
    for (int i = 0; i < n; i++) {
        if (w[i].easy)
            curl_easy_cleanup(w[i].easy);
        lr_request_free(w[i].req);
        free(w[i].body.data);
        free(w[i].lat_ns);
    }
}

static int prepare(const struct opts *o, struct run *r)
{
    int n = o->threads;
    r->mode = o->mode;
    snprintf(r->url, sizeof r->url,
             "http://127.0.0.1:%d/v1/chat/completions", o->port);
    r->warm_each = (o->warmup + n - 1) / n;
    r->want_each = (o->requests + n - 1) / n;
    r->limit_ns = (int64_t)(o->time_limit * 1e9);
    pthread_barrier_init(&r->ready, NULL, (unsigned)n + 1);
    pthread_barrier_init(&r->go, NULL, (unsigned)n + 1);
    if (r->mode == M_LR) {
        char err[512];
        r->router = lr_open(o->ini, err, sizeof err);
        if (!r->router)
            fprintf(stderr, "bench_client: lr_open: %s\n", err);
        return r->router ? 0 : -1;
    }
    /* The header lines provider_openai and core/transfer.c produce. */
    static const char *const lines[] = {"Content-Type: application/json",
                                        "Accept: application/json",
                                        "Expect:"};
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        struct curl_slist *l = curl_slist_append(r->hdrs, lines[i]);
        if (!l)
            return -1;
        r->hdrs = l;
    }
    return 0;
}

/* --- Options, main ---------------------------------------------------- */

static int parse_opt(struct opts *o, const char *a, const char *v)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    int num = !errno && end != v && !*end;
    if (strcmp(a, "--mode") == 0) {
        for (int m = 0; m < N_MODES; m++)
            if (strcmp(v, mode_args[m]) == 0)
                o->mode = (enum mode)m;
        return o->mode == N_MODES ? -1 : 0;
    }
    if (strcmp(a, "--ini") == 0) {
        o->ini = v;
        return 0;
    }
    if (strcmp(a, "--time-limit") == 0) {
        o->time_limit = atof(v);
        return o->time_limit > 0 && o->time_limit <= 600 ? 0 : -1;
    }
    if (!num)
        return -1;
    if (strcmp(a, "--port") == 0 && n > 0 && n < 65536)
        o->port = (int)n;
    else if (strcmp(a, "--threads") == 0 && n >= 1 && n <= MAX_THREADS)
        o->threads = (int)n;
    else if (strcmp(a, "--requests") == 0 && n >= 1 && n <= MAX_REQUESTS)
        o->requests = n;
    else if (strcmp(a, "--warmup") == 0 && n >= 0 && n <= MAX_REQUESTS)
        o->warmup = n;
    else if (strcmp(a, "--cpu") == 0 && n >= -1 && n < CPU_SETSIZE)
        o->cpu = (int)n;
    else
        return -1;
    return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){.mode = N_MODES, .threads = 1, .requests = 20000,
                       .warmup = 1000, .time_limit = 10, .cpu = -1};
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc || parse_opt(o, argv[i], argv[i + 1]) != 0) {
            fprintf(stderr, "bench_client: bad argument '%s'\n", argv[i]);
            return -1;
        }
    }
    if (o->mode == N_MODES || !o->port || (o->mode == M_LR && !o->ini)) {
        fprintf(stderr, "usage: bench_client --mode raw|rawjson|llmroute "
                "--port N [--ini FILE] [--threads T]\n"
                "       [--requests R] [--warmup W] [--time-limit S] "
                "[--cpu N]\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o;
    if (parse_args(argc, argv, &o) != 0)
        return 2;
    pin(o.cpu);
    curl_global_init(CURL_GLOBAL_ALL);
    struct run r = {.mode = o.mode};
    struct worker w[MAX_THREADS];
    struct figures f = {0};
    memset(w, 0, sizeof w);
    if (prepare(&o, &r) != 0 || setup_workers(&r, w, o.threads) != 0) {
        fprintf(stderr, "bench_client: %s: set-up failed\n",
                mode_args[o.mode]);
        return 1;
    }
    if (measure(&r, w, o.threads, &f) != 0)
        _exit(1);
    lr_close(r.router);
    free_workers(w, o.threads);
    curl_slist_free_all(r.hdrs);
    curl_global_cleanup();
    f.rss_kb = vm_hwm_kb();
    printf("done=%ld errors=%ld wall_us=%.1f p50_us=%.3f p99_us=%.3f "
           "usr_us=%.1f sys_us=%.1f csw=%ld rss_kb=%ld\n", f.done,
           f.errors, f.wall_us, f.p50_us, f.p99_us, f.usr_us, f.sys_us,
           f.csw, f.rss_kb);
    return 0;
}
