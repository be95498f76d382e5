/*
 * bench_gateway.c - a load generator for OpenAI-compatible HTTP servers
 * (the mock upstream, `llmroute serve`, the Portkey gateway), and the
 * report of its runs.
 *
 *   bench_gateway run --url http://HOST:PORT/PATH --target NAME
 *                 [--conns N] [--requests N] [--warmup N]
 *                 [--time-limit S] [--header "Name: value"]...
 *                 [--model M] [--expect TEXT] [--stall-ms 40]
 *                 [--server-pid PID] [--idle-rss-kb N] [--json FILE]
 *                 [--dump FILE]
 *   bench_gateway report FILE
 *
 * run: N keep-alive HTTP/1.1 connections (TCP_NODELAY) in one thread
 * with epoll and non-blocking sockets, in a closed loop: each connection
 * POSTs a fixed chat.completions body, waits for the whole answer and
 * sends the next.  A warm-up of --warmup requests (default 200) comes
 * first and is not counted; then --requests requests (default 20000),
 * or fewer when --time-limit seconds (default 10) pass first.  Each
 * request is timed from its first byte written to its last byte read.
 * An answer counts as a success only when it is a 200 whose body parses
 * as JSON with a string choices[0].message.content (equal to --expect
 * when given); anything else, a connection the server closed or an
 * answer still missing 5 s after the end is a failure.  Requests slower
 * than --stall-ms are counted as stalls (Nagle's delayed-ACK stalls are
 * 40 ms).  With --server-pid the server's CPU time over the run and its
 * peak RSS (VmHWM) after it are read from /proc.  It prints one line and
 * appends one JSON object per run to --json FILE; --dump writes every
 * latency (µs, in order of completion) to FILE.  Exit 0 when every
 * request succeeded, 1 when any failed, 2 on bad usage.
 *
 * report: reads such a file and prints the table (target x connections)
 * and the gateway goals of bench/README.md, met or missed.
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 1024
#define MAX_HEADERS 8
#define RBUF_MAX (1024 * 1024)
#define DRAIN_S 5.0

struct opts {
    const char *url, *target, *model, *expect, *json, *dump;
    const char *headers[MAX_HEADERS];
    int n_headers, conns, server_pid;
    long requests, warmup, idle_rss_kb;
    double time_limit, stall_ms;
};

struct conn {
    int fd;
    size_t sent;            /* bytes of the request written */
    char *rbuf;
    size_t rlen, rcap;
    int64_t t0;             /* when the request's first byte went out */
    int busy;
};

/* One phase's outcome. */
struct tally {
    long ok, failed, reconnects, stalls;
    int64_t *lat_ns;        /* successes' and failures' latencies */
    long n_lat, cap_lat;
    char first_error[256];
};

struct gen {
    const struct opts *o;
    struct sockaddr_in addr;
    char *req;              /* the whole request, headers and body */
    size_t req_len;
    int ep;
    struct conn c[MAX_CONNS];
    long to_issue, in_flight;
    struct tally t;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* --- The request ------------------------------------------------------- */

/* http://HOST:PORT/PATH, HOST a dotted IPv4 address: the benchmark only
   talks to loopback servers it started. */
static int parse_url(const char *url, struct sockaddr_in *sa, char *host,
                     size_t hostlen, const char **path)
{
    if (strncmp(url, "http://", 7))
        return -1;
    const char *h = url + 7, *colon = strchr(h, ':');
    const char *slash = colon ? strchr(colon, '/') : NULL;
    if (!colon || !slash || (size_t)(colon - h) >= hostlen)
        return -1;
    memcpy(host, h, (size_t)(colon - h));
    host[colon - h] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (end != slash || port < 1 || port > 65535)
        return -1;
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    *path = slash;
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static char *build_request(const struct opts *o, struct sockaddr_in *sa,
                           size_t *len)
{
    char host[64], body[512];
    const char *path;
    if (parse_url(o->url, sa, host, sizeof host, &path))
        return NULL;
    int bl = snprintf(body, sizeof body, "{\"model\":\"%s\",\"messages\":["
                      "{\"role\":\"user\",\"content\":\"Say ok.\"}],"
                      "\"max_tokens\":16}", o->model);
    size_t cap = 1024 + (size_t)bl;
    for (int i = 0; i < o->n_headers; i++)
        cap += strlen(o->headers[i]) + 2;
    char *r = malloc(cap);
    if (!r)
        return NULL;
    size_t n = (size_t)snprintf(r, cap, "POST %s HTTP/1.1\r\nHost: %s:%d\r\n"
                                "Content-Type: application/json\r\n"
                                "Content-Length: %d\r\n", path, host,
                                ntohs(sa->sin_port), bl);
    for (int i = 0; i < o->n_headers; i++)
        n += (size_t)snprintf(r + n, cap - n, "%s\r\n", o->headers[i]);
    n += (size_t)snprintf(r + n, cap - n, "\r\n%s", body);
    *len = n;
    return r;
}

/* --- HTTP answers ------------------------------------------------------ */

struct answer {
    int status;
    char *body;             /* malloc'd, NUL-terminated */
    size_t body_len;
    int close;              /* Connection: close */
};

/* Case-insensitive search for a header line "name: value" in the head
   [p, end); its value (not NUL-terminated) or NULL. */
static const char *find_header(const char *p, const char *end,
                               const char *name)
{
    size_t nl = strlen(name);
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            return NULL;
        if ((size_t)(eol - p) > nl && p[nl] == ':' &&
            !strncasecmp(p, name, nl)) {
            p += nl + 1;
            while (*p == ' ' || *p == '\t')
                p++;
            return p;
        }
        p = eol + 1;
    }
    return NULL;
}

/* A chunked body from p (len bytes) into a->body: 1 complete, 0 more
   bytes needed, -1 malformed. */
static int dechunk(const char *p, size_t len, struct answer *a)
{
    const char *end = p + len;
    char *out = malloc(len + 1);
    size_t n = 0;
    while (out) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            break;
        char *stop;
        unsigned long sz = strtoul(p, &stop, 16);
        if (stop == p) {
            free(out);
            return -1;
        }
        p = eol + 1;
        if ((size_t)(end - p) < sz + 2)
            break;
        if (sz == 0) {          /* no trailers are expected */
            out[n] = '\0';
            a->body = out;
            a->body_len = n;
            return 1;
        }
        memcpy(out + n, p, sz);
        n += sz;
        p += sz + 2;
    }
    free(out);
    return out ? 0 : -1;
}

/* Parse buf: 1 a whole answer (a filled), 0 not yet, -1 malformed. */
static int parse_answer(const char *buf, size_t len, struct answer *a)
{
    memset(a, 0, sizeof *a);
    const char *head_end = memmem(buf, len, "\r\n\r\n", 4);
    if (!head_end)
        return len > 65536 ? -1 : 0;
    if (len < 12 || strncmp(buf, "HTTP/1.", 7))
        return -1;
    a->status = atoi(buf + 9);
    const char *body = head_end + 4, *he = head_end + 2;
    size_t have = len - (size_t)(body - buf);
    const char *conn = find_header(buf, he, "connection");
    a->close = conn && !strncasecmp(conn, "close", 5);
    const char *te = find_header(buf, he, "transfer-encoding");
    if (te && !strncasecmp(te, "chunked", 7))
        return dechunk(body, have, a);
    const char *cl = find_header(buf, he, "content-length");
    if (!cl)
        return -1;              /* read-until-close is not supported */
    size_t want = (size_t)strtoull(cl, NULL, 10);
    if (have < want)
        return 0;
    if (!(a->body = malloc(want + 1)))
        return -1;
    memcpy(a->body, body, want);
    a->body[want] = '\0';
    a->body_len = want;
    return 1;
}

/* NULL when the answer is what a chat completion must be, else why. */
static const char *check_answer(const struct answer *a, const char *expect)
{
    if (a->status != 200)
        return "status is not 200";
    cJSON *j = cJSON_ParseWithLength(a->body, a->body_len);
    if (!j)
        return "body is not JSON";
    cJSON *ch = cJSON_GetObjectItemCaseSensitive(j, "choices");
    cJSON *msg = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetArrayItem(ch, 0), "message");
    cJSON *txt = cJSON_GetObjectItemCaseSensitive(msg, "content");
    const char *why = NULL;
    if (!cJSON_IsString(txt))
        why = "no choices[0].message.content";
    else if (expect && strcmp(txt->valuestring, expect))
        why = "content is not the mock's text";
    cJSON_Delete(j);
    return why;
}

/* --- Connections ------------------------------------------------------- */

static void note_error(struct tally *t, const char *why, const char *body)
{
    t->failed++;
    if (!t->first_error[0])
        snprintf(t->first_error, sizeof t->first_error, "%s: %.180s", why,
                 body ? body : "");
}

static int conn_open(struct gen *g, struct conn *c)
{
    int one = 1;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0)
        return -1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&g->addr, sizeof g->addr) ||
        fcntl(c->fd, F_SETFL, O_NONBLOCK)) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    return epoll_ctl(g->ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void conn_close(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->rlen = 0;
}

static void want_write(struct gen *g, struct conn *c, int on)
{
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0),
                             .data.ptr = c};
    epoll_ctl(g->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Write what is left of the request; -1 when the connection broke. */
static int conn_flush(struct gen *g, struct conn *c)
{
    while (c->sent < g->req_len) {
        ssize_t n = send(c->fd, g->req + c->sent, g->req_len - c->sent,
                         MSG_NOSIGNAL);
        if (n < 0 && errno == EAGAIN) {
            want_write(g, c, 1);
            return 0;
        }
        if (n <= 0)
            return -1;
        c->sent += (size_t)n;
    }
    return 0;
}

/* Start the next request on c if any is left; reopens c if closed. */
static void conn_next(struct gen *g, struct conn *c)
{
    if (g->to_issue <= 0)
        return;
    if (c->fd < 0) {
        if (conn_open(g, c)) {
            note_error(&g->t, "cannot connect", strerror(errno));
            g->to_issue--;
            return;
        }
        g->t.reconnects++;
    }
    g->to_issue--;
    g->in_flight++;
    c->busy = 1;
    c->sent = 0;
    c->rlen = 0;
    c->t0 = now_ns();
    if (conn_flush(g, c)) {
        note_error(&g->t, "send failed", strerror(errno));
        c->busy = 0;
        g->in_flight--;
        conn_close(c);
    }
}

static void record(struct gen *g, int64_t ns)
{
    struct tally *t = &g->t;
    if (t->n_lat < t->cap_lat)
        t->lat_ns[t->n_lat++] = ns;
    if ((double)ns >= g->o->stall_ms * 1e6)
        t->stalls++;
}

/* The answer on c is complete (rc 1) or broken (-1): account for it. */
static void finish(struct gen *g, struct conn *c, int rc, struct answer *a)
{
    record(g, now_ns() - c->t0);
    const char *why = rc < 0 ? "malformed HTTP answer"
                             : check_answer(a, g->o->expect);
    if (why)
        note_error(&g->t, why, rc < 0 ? c->rbuf : a->body);
    else
        g->t.ok++;
    c->busy = 0;
    g->in_flight--;
    if (rc < 0 || a->close)
        conn_close(c);
    else
        c->rlen = 0;
    free(a->body);
}

static int conn_read(struct gen *g, struct conn *c)
{
    for (;;) {
        if (c->rcap - c->rlen < 4096) {
            size_t cap = c->rcap ? c->rcap * 2 : 16384;
            char *p = cap <= RBUF_MAX ? realloc(c->rbuf, cap + 1) : NULL;
            if (!p)
                return -1;
            c->rbuf = p;
            c->rcap = cap;
        }
        ssize_t n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n <= 0)
            return -1;
        c->rlen += (size_t)n;
        c->rbuf[c->rlen] = '\0';
    }
}

static void on_event(struct gen *g, struct conn *c, uint32_t ev)
{
    if ((ev & EPOLLOUT) && c->busy) {
        if (conn_flush(g, c))
            ev |= EPOLLERR;
        else if (c->sent == g->req_len)
            want_write(g, c, 0);
    }
    int broken = (ev & EPOLLERR) || conn_read(g, c) < 0;
    struct answer a;
    int rc = c->rlen ? parse_answer(c->rbuf, c->rlen, &a) : 0;
    if (!c->busy) {             /* bytes or a close nobody asked for */
        conn_close(c);
        return;
    }
    if (rc == 0 && broken) {
        note_error(&g->t, "connection closed by the server", NULL);
        record(g, now_ns() - c->t0);
        c->busy = 0;
        g->in_flight--;
        conn_close(c);
    } else if (rc != 0) {
        finish(g, c, rc, &a);
    } else {
        return;
    }
    conn_next(g, c);
}

/* --- A phase ----------------------------------------------------------- */

/* n requests over the connections, issuing until deadline (ns); then
   waits DRAIN_S for answers in flight, which count as failures if they
   do not come. */
static void run_phase(struct gen *g, long n, int64_t deadline)
{
    struct epoll_event evs[64];
    g->to_issue = n;
    g->in_flight = 0;
    for (int i = 0; i < g->o->conns; i++)
        conn_next(g, &g->c[i]);
    int64_t hard = deadline + (int64_t)(DRAIN_S * 1e9);
    while (g->in_flight > 0) {
        int64_t t = now_ns();
        if (t >= deadline)
            g->to_issue = 0;
        if (t >= hard)
            break;
        int k = epoll_wait(g->ep, evs, 64, 50);
        for (int i = 0; i < k; i++)
            on_event(g, evs[i].data.ptr, evs[i].events);
    }
    for (int i = 0; i < g->o->conns && g->in_flight > 0; i++) {
        if (g->c[i].busy) {
            note_error(&g->t, "no answer in time", NULL);
            g->c[i].busy = 0;
            g->in_flight--;
            conn_close(&g->c[i]);
        }
    }
}

/* --- /proc ------------------------------------------------------------- */

/* A "Key:   N kB" line of /proc/PID/status, or -1. */
static long proc_status_kb(int pid, const char *key)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    long v = -1;
    size_t kl = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl) && line[kl] == ':')
            v = strtol(line + kl + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

/* User + system CPU seconds of a process (all its threads), or -1. */
static double proc_cpu_s(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');   /* the name may hold spaces */
    unsigned long ut, st;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
                     "%lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* The CPU the process is pinned to, or -1 when it may run on several. */
static int pinned_cpu(int pid)
{
    cpu_set_t set;
    if (sched_getaffinity(pid, sizeof set, &set) || CPU_COUNT(&set) != 1)
        return -1;
    for (int i = 0; i < CPU_SETSIZE; i++)
        if (CPU_ISSET(i, &set))
            return i;
    return -1;
}

/* Busy seconds (everything but idle and iowait) of CPU cpu since boot,
   from /proc/stat; -1 when unknown. */
static double cpu_busy_s(int cpu)
{
    char want[16], line[512];
    unsigned long long v[8] = {0};
    double busy = -1;
    snprintf(want, sizeof want, "cpu%d ", cpu);
    FILE *f = cpu >= 0 ? fopen("/proc/stat", "r") : NULL;
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, want, strlen(want)))
            continue;
        if (sscanf(line + strlen(want), "%llu %llu %llu %llu %llu %llu "
                   "%llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                   &v[6], &v[7]) == 8)
            busy = (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) /
                   (double)sysconf(_SC_CLK_TCK);
        break;
    }
    if (f)
        fclose(f);
    return busy;
}

static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* --- Run --------------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v, in µs. */
static double pct_us(const int64_t *v, long n, double p)
{
    if (n <= 0)
        return 0;
    long k = (long)ceil(p * (double)n) - 1;
    return (double)v[k < 0 ? 0 : k] / 1e3;
}

static void reset_tally(struct tally *t)
{
    t->ok = t->failed = t->reconnects = t->stalls = t->n_lat = 0;
    t->first_error[0] = '\0';
}

static int gen_init(struct gen *g, const struct opts *o)
{
    memset(g, 0, sizeof *g);
    g->o = o;
    if (!(g->req = build_request(o, &g->addr, &g->req_len))) {
        fprintf(stderr, "bench_gateway: bad --url '%s' (want "
                "http://IPv4:PORT/PATH)\n", o->url);
        return -1;
    }
    g->t.cap_lat = o->requests + MAX_CONNS;
    g->t.lat_ns = malloc(sizeof(int64_t) * (size_t)g->t.cap_lat);
    g->ep = epoll_create1(0);
    if (!g->t.lat_ns || g->ep < 0)
        return -1;
    for (int i = 0; i < o->conns; i++) {
        g->c[i].fd = -1;
        if (conn_open(g, &g->c[i])) {
            fprintf(stderr, "bench_gateway: cannot connect to %s: %s\n",
                    o->url, strerror(errno));
            return -1;
        }
    }
    return 0;
}

static void gen_free(struct gen *g)
{
    for (int i = 0; i < MAX_CONNS; i++) {
        if (g->c[i].rbuf || g->c[i].fd > 0)
            conn_close(&g->c[i]);
        free(g->c[i].rbuf);
    }
    if (g->ep >= 0)
        close(g->ep);
    free(g->t.lat_ns);
    free(g->req);
}

struct figures {
    double wall_s, rps, p50, p99, max, srv_cpu_pct, gen_cpu_pct;
    double other_pct;       /* the server's CPU busy with others, or -1 */
    long peak_rss_kb, warmup_done;
};

static void emit(const struct opts *o, const struct tally *t,
                 const struct figures *f)
{
    char line[1024];
    snprintf(line, sizeof line, "{\"target\":\"%s\",\"conns\":%d,"
             "\"requests\":%ld,\"failures\":%ld,\"rps\":%.1f,"
             "\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,"
             "\"stalls\":%ld,\"stall_ms\":%g,\"reconnects\":%ld,"
             "\"server_cpu_pct\":%.1f,\"gen_cpu_pct\":%.1f,"
             "\"other_cpu_pct\":%.1f,\"peak_rss_kb\":%ld,"
             "\"idle_rss_kb\":%ld,\"warmup\":%ld,\"wall_s\":%.3f}",
             o->target, o->conns, t->ok + t->failed, t->failed, f->rps,
             f->p50, f->p99, f->max, t->stalls, o->stall_ms, t->reconnects,
             f->srv_cpu_pct, f->gen_cpu_pct, f->other_pct, f->peak_rss_kb,
             o->idle_rss_kb, f->warmup_done, f->wall_s);
    char others[32] = "-";
    if (f->other_pct >= 0)
        snprintf(others, sizeof others, "%.1f%%", f->other_pct);
    printf("%-9s conns %3d: %7ld req %4ld failed %9.0f req/s  p50 %8.1f us"
           "  p99 %8.1f us  stalls %ld  server CPU %5.1f%% (others on its CPU"
           " %s)  gen CPU %5.1f%%  peak RSS %ld kB\n", o->target,
           o->conns, t->ok + t->failed, t->failed, f->rps, f->p50, f->p99,
           t->stalls, f->srv_cpu_pct, others, f->gen_cpu_pct,
           f->peak_rss_kb);
    if (t->failed)
        printf("  first failure: %s\n", t->first_error);
    FILE *j = o->json ? fopen(o->json, "a") : NULL;
    if (j) {
        fprintf(j, "%s\n", line);
        fclose(j);
    } else if (o->json) {
        fprintf(stderr, "bench_gateway: cannot append to %s\n", o->json);
    }
}

/* Every latency in µs, in the order the answers came, one a line. */
static void dump_samples(const char *path, const struct tally *t)
{
    FILE *f = path ? fopen(path, "w") : NULL;
    if (path && !f)
        fprintf(stderr, "bench_gateway: cannot write %s\n", path);
    for (long i = 0; f && i < t->n_lat; i++)
        fprintf(f, "%.1f\n", (double)t->lat_ns[i] / 1e3);
    if (f)
        fclose(f);
}

static int run(const struct opts *o)
{
    struct gen g;
    if (gen_init(&g, o)) {
        gen_free(&g);
        return 1;
    }
    run_phase(&g, o->warmup, now_ns() + (int64_t)(o->time_limit * 1e9));
    long warm_failed = g.t.failed;
    struct figures f = {.warmup_done = g.t.ok + g.t.failed, .other_pct = -1};
    reset_tally(&g.t);
    int cpu = o->server_pid ? pinned_cpu(o->server_pid) : -1;
    double b0 = cpu_busy_s(cpu);
    double s0 = o->server_pid ? proc_cpu_s(o->server_pid) : 0;
    double c0 = self_cpu_s();
    int64_t t0 = now_ns();
    run_phase(&g, o->requests, t0 + (int64_t)(o->time_limit * 1e9));
    f.wall_s = (double)(now_ns() - t0) / 1e9;
    f.gen_cpu_pct = 100 * (self_cpu_s() - c0) / f.wall_s;
    if (o->server_pid) {
        f.srv_cpu_pct = 100 * (proc_cpu_s(o->server_pid) - s0) / f.wall_s;
        if (b0 >= 0)    /* the generator is not "others" either */
            f.other_pct = 100 * (cpu_busy_s(cpu) - b0) / f.wall_s -
                          f.srv_cpu_pct -
                          (pinned_cpu(0) == cpu ? f.gen_cpu_pct : 0);
        if (b0 >= 0 && f.other_pct < 0)
            f.other_pct = 0;    /* clock-tick rounding, not a figure */
        f.peak_rss_kb = proc_status_kb(o->server_pid, "VmHWM");
    }
    dump_samples(o->dump, &g.t);
    qsort(g.t.lat_ns, (size_t)g.t.n_lat, sizeof *g.t.lat_ns, cmp_i64);
    f.rps = (double)g.t.ok / f.wall_s;
    f.p50 = pct_us(g.t.lat_ns, g.t.n_lat, 0.50);
    f.p99 = pct_us(g.t.lat_ns, g.t.n_lat, 0.99);
    f.max = pct_us(g.t.lat_ns, g.t.n_lat, 1.0);
    g.t.failed += warm_failed;
    emit(o, &g.t, &f);
    int rc = g.t.failed || g.t.ok == 0;
    gen_free(&g);
    return rc;
}

/* --- Report ------------------------------------------------------------ */

#define MAX_ROWS 64
#define IDLE_RSS_GOAL_KB 10240   /* 10 MiB */

struct row {
    char target[32];
    int conns;
    long failures, stalls, peak_rss_kb, idle_rss_kb;
    double rps, p50, p99, srv_cpu, other_cpu;
};

static double jnum(const cJSON *j, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static int load_rows(const char *path, struct row *rows, int max)
{
    FILE *f = fopen(path, "r");
    char line[2048];
    int n = 0;
    if (!f) {
        fprintf(stderr, "bench_gateway: cannot read %s\n", path);
        return -1;
    }
    while (n < max && fgets(line, sizeof line, f)) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "target");
        if (cJSON_IsString(t)) {
            struct row *r = &rows[n++];
            snprintf(r->target, sizeof r->target, "%s", t->valuestring);
            r->conns = (int)jnum(j, "conns");
            r->failures = (long)jnum(j, "failures");
            r->stalls = (long)jnum(j, "stalls");
            r->peak_rss_kb = (long)jnum(j, "peak_rss_kb");
            r->idle_rss_kb = (long)jnum(j, "idle_rss_kb");
            r->rps = jnum(j, "rps");
            r->p50 = jnum(j, "p50_us");
            r->p99 = jnum(j, "p99_us");
            r->srv_cpu = jnum(j, "server_cpu_pct");
            r->other_cpu = jnum(j, "other_cpu_pct");
        }
        cJSON_Delete(j);
    }
    fclose(f);
    return n;
}

/* The last row of target at conns, or NULL; NULL too when that run had
   failures or no answer, since its figures do not count. */
static const struct row *find_row(const struct row *rows, int n,
                                  const char *target, int conns)
{
    const struct row *r = NULL;
    for (int i = 0; i < n; i++)
        if (!strcmp(rows[i].target, target) && rows[i].conns == conns)
            r = &rows[i];
    return r && !r->failures && r->rps > 0 ? r : NULL;
}

/* Requests per second of the server's own CPU time: what it would
   serve with a whole CPU, if it is CPU-bound; robust to neighbours. */
static double per_cpu_s(const struct row *r)
{
    return r->srv_cpu > 0 ? r->rps / (r->srv_cpu / 100) : 0;
}

static void print_table(const struct row *rows, int n)
{
    printf("%-11s %5s %8s %9s %9s %6s %6s %7s %6s %8s %10s %10s\n",
           "target", "conns", "req/s", "p50 us", "p99 us", "stalls",
           "failed", "srv CPU", "others", "req/CPUs", "peak RSS",
           "idle RSS");
    for (int i = 0; i < n; i++) {
        const struct row *r = &rows[i];
        char idle[32] = "-", others[16] = "-";
        if (r->conns == 0)
            continue;           /* a reference figure, not a run */
        if (r->idle_rss_kb >= 0)
            snprintf(idle, sizeof idle, "%ld kB", r->idle_rss_kb);
        if (r->other_cpu >= 0)
            snprintf(others, sizeof others, "%.0f%%", r->other_cpu);
        printf("%-11s %5d %8.0f %9.1f %9.1f %6ld %6ld %6.0f%% %6s "
               "%8.0f %7ld kB %10s\n", r->target, r->conns, r->rps, r->p50,
               r->p99, r->stalls, r->failures, r->srv_cpu, others,
               per_cpu_s(r), r->peak_rss_kb, idle);
    }
}

/* One goal's line; known 0 when a figure it needs is missing. */
static void goal(const char *what, int known, int met, const char *detail)
{
    printf("  %-8s %-46s %s\n", !known ? "unknown" : met ? "met" : "MISSED",
           what, known ? detail : "(not measured)");
}

/* The relay (bench/relay_floor.c) in the gateway's place: what the hop
   alone costs, the floor under the throughput and latency goals. */
static void print_relay_floor(const struct row *rows, int n)
{
    const struct row *r1 = find_row(rows, n, "relay", 1);
    const struct row *s1 = find_row(rows, n, "relay-spin", 1);
    const struct row *r64 = find_row(rows, n, "relay", 64);
    const struct row *d1 = find_row(rows, n, "direct", 1);
    const struct row *p64 = find_row(rows, n, "portkey", 64);
    if (!(r1 && d1) && !(r64 && p64))
        return;
    printf("  (for reference: a TCP relay that parses nothing, in the "
           "gateway's place:");
    if (r64 && p64)
        printf(" %.0f req/s at 64 conns, %.1fx portkey%s", r64->rps,
               r64->rps / p64->rps, r1 && d1 ? ";" : "");
    if (r1 && d1)
        printf(" adds +%.1f us at 1 conn", r1->p50 - d1->p50);
    if (s1 && d1)
        printf(", +%.1f us busy-polling", s1->p50 - d1->p50);
    printf(")\n");
}

static void print_goals(const struct row *rows, int n)
{
    const struct row *l1 = find_row(rows, n, "llmroute", 1);
    const struct row *l64 = find_row(rows, n, "llmroute", 64);
    const struct row *d1 = find_row(rows, n, "direct", 1);
    const struct row *d64 = find_row(rows, n, "direct", 64);
    const struct row *p64 = find_row(rows, n, "portkey", 64);
    char d[128] = "";
    long stalls = 0;
    int have_l = 0;
    for (int i = 0; i < n; i++)
        if (!strcmp(rows[i].target, "llmroute")) {
            stalls += rows[i].stalls;
            have_l = 1;
        }
    printf("goals (llmroute serve):\n");
    if (l64 && p64)
        snprintf(d, sizeof d, "%.1fx (portkey %.0f req/s)",
                 l64->rps / p64->rps, p64->rps);
    goal("req/s at 64 conns >= 20x portkey's", l64 && p64,
         l64 && p64 && l64->rps >= 20 * p64->rps, d);
    if (l64 && p64 && per_cpu_s(p64) > 0)
        printf("  (per second of server CPU at 64 conns: %.1fx, llmroute "
               "%.0f, portkey %.0f)\n", per_cpu_s(l64) / per_cpu_s(p64),
               per_cpu_s(l64), per_cpu_s(p64));
    if (l64 && d64)
        snprintf(d, sizeof d, "%.2fx (direct %.0f req/s)",
                 l64->rps / d64->rps, d64->rps);
    goal("req/s at 64 conns >= 0.3x direct", l64 && d64,
         l64 && d64 && l64->rps >= 0.3 * d64->rps, d);
    if (l1 && d1)
        snprintf(d, sizeof d, "+%.1f us (direct p50 %.1f us)",
                 l1->p50 - d1->p50, d1->p50);
    goal("added p50 at 1 conn <= one direct round trip", l1 && d1,
         l1 && d1 && l1->p50 - d1->p50 <= d1->p50, d);
    snprintf(d, sizeof d, "%ld stalls", stalls);
    goal("no request >= 40 ms (stalls), every run", have_l, stalls == 0, d);
    int idle = l1 && l1->idle_rss_kb >= 0;
    if (idle)
        snprintf(d, sizeof d, "%ld kB", l1->idle_rss_kb);
    goal("idle RSS < 10 MiB", idle,
         idle && l1->idle_rss_kb < IDLE_RSS_GOAL_KB, d);
    const struct row *floor = NULL;
    for (int i = 0; i < n; i++)
        if (!strcmp(rows[i].target, "rss-floor") && rows[i].idle_rss_kb > 0)
            floor = &rows[i];
    if (floor)
        printf("  (for reference: a program that only loads and starts "
               "libcurl and libmicrohttpd idles at %ld kB, %ld kB under "
               "the goal)\n", floor->idle_rss_kb,
               IDLE_RSS_GOAL_KB - floor->idle_rss_kb);
    print_relay_floor(rows, n);
}

static int report(const char *path)
{
    struct row rows[MAX_ROWS];
    int n = load_rows(path, rows, MAX_ROWS);
    if (n < 0)
        return 2;
    print_table(rows, n);
    printf("\n");
    print_goals(rows, n);
    long failed = 0;
    for (int i = 0; i < n; i++)
        failed += rows[i].failures > 0 ? rows[i].failures : 0;
    if (failed)
        printf("\n%ld requests FAILED: the figures above are not valid\n",
               failed);
    return failed ? 1 : 0;
}

/* --- Options ----------------------------------------------------------- */

static int usage(void)
{
    fprintf(stderr, "usage: bench_gateway run --url http://HOST:PORT/PATH "
            "--target NAME [--conns N] [--requests N] [--warmup N]\n"
            "         [--time-limit S] [--header 'Name: value']... "
            "[--model M] [--expect TEXT] [--stall-ms MS]\n"
            "         [--server-pid PID] [--idle-rss-kb N] [--json FILE] "
            "[--dump FILE]\n"
            "       bench_gateway report FILE\n");
    return 2;
}

static int num_opt(const char *name, const char *v, double lo, double hi,
                   double *out)
{
    char *end;
    double d = strtod(v, &end);
    if (!*v || *end || !(d >= lo && d <= hi)) {
        fprintf(stderr, "bench_gateway: %s: expected a number from %g to "
                "%g, got '%s'\n", name, lo, hi, v);
        return -1;
    }
    *out = d;
    return 0;
}

/* One "--name value" pair; 0, or -1 after saying what is wrong. */
static int set_opt(struct opts *o, const char *a, const char *v)
{
    double d = 0;
    int rc = 0;
    if (!strcmp(a, "--url"))
        o->url = v;
    else if (!strcmp(a, "--target"))
        o->target = v;
    else if (!strcmp(a, "--model"))
        o->model = v;
    else if (!strcmp(a, "--expect"))
        o->expect = v;
    else if (!strcmp(a, "--json"))
        o->json = v;
    else if (!strcmp(a, "--dump"))
        o->dump = v;
    else if (!strcmp(a, "--header") && o->n_headers < MAX_HEADERS)
        o->headers[o->n_headers++] = v;
    else if (!strcmp(a, "--conns") && !(rc = num_opt(a, v, 1, MAX_CONNS, &d)))
        o->conns = (int)d;
    else if (!strcmp(a, "--requests") && !(rc = num_opt(a, v, 1, 1e8, &d)))
        o->requests = (long)d;
    else if (!strcmp(a, "--warmup") && !(rc = num_opt(a, v, 0, 1e8, &d)))
        o->warmup = (long)d;
    else if (!strcmp(a, "--time-limit") && !(rc = num_opt(a, v, 0.1, 3600,
                                                          &d)))
        o->time_limit = d;
    else if (!strcmp(a, "--stall-ms") && !(rc = num_opt(a, v, 0.001, 1e6,
                                                        &d)))
        o->stall_ms = d;
    else if (!strcmp(a, "--server-pid") && !(rc = num_opt(a, v, 1, 1e9, &d)))
        o->server_pid = (int)d;
    else if (!strcmp(a, "--idle-rss-kb") && !(rc = num_opt(a, v, 0, 1e9,
                                                           &d)))
        o->idle_rss_kb = (long)d;
    else if (!rc) {
        fprintf(stderr, "bench_gateway: unknown or repeated option %s\n", a);
        rc = -1;
    }
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "report"))
        return report(argv[2]);
    if (argc < 2 || strcmp(argv[1], "run") || argc % 2)
        return usage();
    struct opts o = {.model = "bench-model", .conns = 1, .requests = 20000,
                     .warmup = 200, .time_limit = 10, .stall_ms = 40,
                     .idle_rss_kb = -1};
    for (int i = 2; i + 1 < argc; i += 2)
        if (set_opt(&o, argv[i], argv[i + 1]))
            return usage();
    if (!o.url || !o.target)
        return usage();
    signal(SIGPIPE, SIG_IGN);
    return run(&o);
}
