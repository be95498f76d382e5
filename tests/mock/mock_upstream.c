/*
 * mock_upstream.c - the mock upstream's HTTP server: receives requests
 * with libmicrohttpd, picks the scripted answer, counts, keeps the last
 * body and headers per route, waits delay_ms and queues the answer.  What
 * the bytes say is the wire format's business (mock_openai.c), how they
 * are paced and cut is mock_send.c's; the script is loaded and checked in
 * mock_script.c.
 *
 * Threading: MHD runs one thread per connection
 * (MHD_USE_THREAD_PER_CONNECTION).  Delays are therefore plain waits in
 * the connection's own thread - before answering, and in the content
 * reader between SSE chunks - and never hold up other connections; no
 * suspend/resume or timer machinery is needed, and a content reader never
 * has to return 0 ("try again") which MHD would busy-poll.  Benchmarks use
 * keep-alive with at most 64 connections, so the cost (a thread per open
 * connection, created once per connection) does not matter.
 *
 * Locking: one mutex, m->lock, guards the current script pointer, the
 * script reference counts, every counter and the last body/headers of
 * each route, and the stopping flag.  It is never held while sleeping,
 * sending or building an answer.  A request takes a reference on the
 * script it was matched against, so mock_set_script() can swap scripts
 * under running requests; the last reference frees the old script.
 * Waits are pthread_cond_timedwait on m->wake, which mock_stop()
 * broadcasts so that nothing sleeps through a shutdown.
 */
#include "mock_upstream.h"

#include "buf.h"
#include "mock_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct mock_upstream {
    struct MHD_Daemon *daemon;
    int port;
    pthread_mutex_t lock;
    pthread_cond_t wake;        /* broadcast when stopping */
    int stopping;               /* guarded by lock */
    struct mock_script *script; /* guarded by lock; holds a reference */
    long total;                 /* guarded by lock */
    long start_ms;              /* monotonic; quota windows count from it */
};

/* One request's body as it arrives (MHD's per-request pointer). */
struct upload {
    struct lr_buf body;
    int too_big;
};

/* Copies of a request, made before taking the lock. */
struct capture {
    char *body;
    struct mock_header *headers;
    size_t nheaders;
};

/* The scripted answer chosen for a request. */
struct pick {
    struct mock_script *script; /* a reference, or NULL */
    struct mock_route *route;
    const struct mock_entry *entry;
    long id;
    long window_left_ms; /* over quota: time left in the window; else -1 */
};

static long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int mock_nap(struct mock_upstream *m, long ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += ms / 1000;
    dl.tv_nsec += (ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&m->lock);
    while (!m->stopping &&
           pthread_cond_timedwait(&m->wake, &m->lock, &dl) != ETIMEDOUT)
        ;
    int stopping = m->stopping;
    pthread_mutex_unlock(&m->lock);
    return stopping ? -1 : 0;
}

static void release(struct mock_upstream *m, struct mock_script *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&m->lock);
    int last = --s->refs == 0;
    pthread_mutex_unlock(&m->lock);
    if (last)
        mock_script_free(s);
}

/* Send body (owned, may be NULL after a failed allocation). */
static enum MHD_Result send_body(struct MHD_Connection *c, unsigned status,
                                 char *body)
{
    if (!body)
        return MHD_NO;
    struct MHD_Response *r = MHD_create_response_from_buffer(
        strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

__attribute__((format(printf, 6, 7))) static enum MHD_Result
send_problem(struct MHD_Connection *c, const struct mock_format *f,
             unsigned status, const char *type, const char *code,
             const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return send_body(c, status, f->problem_body(msg, type, code));
}

static enum MHD_Result send_stats(struct mock_upstream *m,
                                  struct MHD_Connection *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *routes = cJSON_CreateObject();
    cJSON *over = cJSON_CreateObject();
    pthread_mutex_lock(&m->lock);
    cJSON_AddNumberToObject(o, "total", (double)m->total);
    for (size_t i = 0; i < m->script->nroutes; i++) {
        const struct mock_route *r = &m->script->routes[i];
        cJSON_AddNumberToObject(routes, r->name, (double)r->requests);
        cJSON_AddNumberToObject(over, r->name, (double)r->over_quota);
    }
    pthread_mutex_unlock(&m->lock);
    cJSON_AddItemToObject(o, "routes", routes);
    cJSON_AddItemToObject(o, "over_quota", over);
    return send_body(c, 200, mock_print_free(o));
}

/* Fill reply with the bytes of the picked entry. */
static int build_reply(const struct mock_format *f,
                       const struct mock_request *req, const struct pick *p,
                       struct mock_reply *reply)
{
    const struct mock_entry *e = p->entry;
    int fill = p->window_left_ms >= 0; /* a quota answer */
    if (e->kind == MOCK_ERROR || e->kind == MOCK_RAW)
        return fill ? mock_reply_take(reply, mock_fill_window(
                                                 e->body, p->window_left_ms))
                    : mock_reply_add(reply, e->body, strlen(e->body));
    char id[48];
    snprintf(id, sizeof id, "chatcmpl-mock-%ld", p->id);
    char *own = NULL; /* echo text, or a quota answer's filled text */
    if (e->kind == MOCK_ECHO)
        own = mock_concat("echo: ", req->last_user);
    else if (fill)
        own = mock_fill_window(e->text, p->window_left_ms);
    if ((e->kind == MOCK_ECHO || fill) && !own)
        return -1;
    struct mock_answer a = {
        .id = id,
        .model = strcmp(p->route->model, "*") != 0 ? p->route->model
                 : req->model                      ? req->model
                                                   : "mock",
        .text = own ? own : e->text,
        .finish_reason = e->finish_reason,
    };
    a.prompt_tokens = e->prompt_tokens >= 0 ? e->prompt_tokens
                                            : req->prompt_words;
    a.completion_tokens = e->completion_tokens >= 0
                              ? e->completion_tokens
                              : mock_count_words(a.text);
    int rc = f->answer(req, &a, reply);
    free(own);
    return rc;
}

static enum MHD_Result answer(struct mock_upstream *m,
                              struct MHD_Connection *c,
                              const struct mock_format *f,
                              const struct mock_request *req,
                              const struct pick *p)
{
    const struct mock_entry *e = p->entry;
    struct mock_reply reply = {0};
    if (build_reply(f, req, p, &reply) != 0) {
        mock_reply_free(&reply);
        return send_problem(c, f, 500, "server_error", NULL, "mock: %s",
                            "out of memory");
    }
    struct MHD_Response *r =
        mock_response(m, e, &reply, p->window_left_ms);
    if (!r)
        return MHD_NO;
    enum MHD_Result rc = MHD_NO;
    if (e->delay_ms == 0 || mock_nap(m, e->delay_ms) == 0)
        rc = MHD_queue_response(c, e->status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result keep_header(void *cls, enum MHD_ValueKind kind,
                                   const char *key, const char *value)
{
    struct capture *cap = cls;
    struct mock_header *h =
        realloc(cap->headers, (cap->nheaders + 1) * sizeof *h);
    if (!h)
        return MHD_NO;
    cap->headers = h;
    char *name = mock_strdup(key);
    char *val = mock_strdup(value ? value : "");
    if (!name || !val) {
        free(name);
        free(val);
        return MHD_NO;
    }
    h[cap->nheaders].name = name;
    h[cap->nheaders].value = val;
    cap->nheaders++;
    return MHD_YES;
}

static void capture_free(struct capture *cap)
{
    free(cap->body);
    for (size_t i = 0; i < cap->nheaders; i++) {
        free(cap->headers[i].name);
        free(cap->headers[i].value);
    }
    free(cap->headers);
}

/*
 * The entry for the next request of route r, under the lock: the quota's
 * over entry when this fixed window's quota is used up (then the time
 * left in the window goes to p), else the next of the route's responses.
 */
static const struct mock_entry *next_entry(struct mock_upstream *m,
                                           struct mock_route *r,
                                           struct pick *p)
{
    struct mock_quota *q = r->quota;
    r->requests++;
    if (q) {
        long since = mono_ms() - m->start_ms;
        if (since / q->window_ms != r->window) {
            r->window = since / q->window_ms;
            r->used = 0;
        }
        if (r->used >= q->limit) {
            r->over_quota++;
            p->window_left_ms = q->window_ms - since % q->window_ms;
            return &q->over;
        }
        r->used++;
    }
    size_t i = (size_t)r->answered++;
    if (i >= r->nentries)
        i = r->cycle ? i % r->nentries : r->nentries - 1;
    return &r->entries[i];
}

/*
 * Count the request, find its route and entry, keep its body and headers
 * as the route's last ones (the old ones go back into cap to be freed)
 * and take a script reference for the answer.  model_ok: the body was a
 * readable request.
 */
static void record(struct mock_upstream *m, const struct mock_format *f,
                   int model_ok, const char *model, struct capture *cap,
                   struct pick *p)
{
    pthread_mutex_lock(&m->lock);
    p->id = ++m->total;
    p->window_left_ms = -1;
    p->route = model_ok ? mock_script_match(m->script, f, model) : NULL;
    if (p->route) {
        struct mock_route *r = p->route;
        p->entry = next_entry(m, r, p);
        p->script = m->script;
        p->script->refs++;
        struct capture old = {r->last_body, r->last_headers,
                              r->nlast_headers};
        r->last_body = cap->body;
        r->last_headers = cap->headers;
        r->nlast_headers = cap->nheaders;
        *cap = old;
    }
    pthread_mutex_unlock(&m->lock);
}

static void capture(struct MHD_Connection *c, const struct upload *up,
                    struct capture *cap)
{
    cap->body = mock_strdup(lr_buf_str(&up->body));
    MHD_get_connection_values(c, MHD_HEADER_KIND, keep_header, cap);
}

static enum MHD_Result serve_chat(struct mock_upstream *m,
                                  struct MHD_Connection *c,
                                  const struct mock_format *f,
                                  const char *url, struct upload *up)
{
    struct mock_request req = {.url = url};
    struct capture cap = {0};
    struct pick p = {0};
    cJSON *json = cJSON_ParseWithLength(lr_buf_str(&up->body), up->body.len);
    req.json = json;
    int ok = json && f->read_request(&req) == 0;
    capture(c, up, &cap);
    record(m, f, ok, req.model, &cap, &p);
    capture_free(&cap);
    enum MHD_Result rc;
    if (!ok)
        rc = send_problem(c, f, 400, "invalid_request_error", NULL, "%s",
                          "mock: the body is not a chat request");
    else if (!p.route)
        rc = send_problem(c, f, 404, "invalid_request_error",
                          "model_not_found", "model '%s' not found",
                          req.model ? req.model : "");
    else
        rc = answer(m, c, f, &req, &p);
    release(m, p.script);
    mock_request_free(&req);
    cJSON_Delete(json);
    return rc;
}

static enum MHD_Result dispatch(struct mock_upstream *m,
                                struct MHD_Connection *c, const char *url,
                                const char *method, struct upload *up)
{
    if (strcmp(url, "/_mock/stats") == 0 &&
        strcmp(method, MHD_HTTP_METHOD_GET) == 0)
        return send_stats(m, c);
    const struct mock_format *f = mock_format_for_path(url);
    if (!f)
        return send_problem(c, mock_format_default(), 404,
                            "invalid_request_error", "unknown_url",
                            "mock: no endpoint at '%s'", url);
    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
        return send_problem(c, f, 405, "invalid_request_error",
                            "method_not_allowed", "mock: %s not allowed",
                            method);
    if (up->too_big)
        return send_problem(c, f, 413, "invalid_request_error", NULL,
                            "mock: body over %u bytes", MOCK_MAX_BODY);
    return serve_chat(m, c, f, url, up);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *data,
                                  size_t *size, void **con_cls)
{
    struct upload *up = *con_cls;
    if (!up) {
        up = calloc(1, sizeof *up);
        *con_cls = up;
        return up ? MHD_YES : MHD_NO;
    }
    if (*size) {
        if (up->body.len + *size > MOCK_MAX_BODY)
            up->too_big = 1;
        else if (lr_buf_append(&up->body, data, *size) != LR_OK)
            return MHD_NO;
        *size = 0;
        return MHD_YES;
    }
    return dispatch(cls, c, url, method, up);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode why)
{
    struct upload *up = *con_cls;
    if (!up)
        return;
    lr_buf_free(&up->body);
    free(up);
    *con_cls = NULL;
}

static int listen_on(struct mock_upstream *m, int port, char *err,
                     size_t errlen)
{
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    m->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
            MHD_USE_POLL,
        (uint16_t)port, NULL, NULL, on_request, m, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&sa, MHD_OPTION_NOTIFY_COMPLETED, on_completed, m,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_END);
    if (!m->daemon) {
        snprintf(err, errlen, "cannot serve on 127.0.0.1:%d: %s", port,
                 errno ? strerror(errno) : "libmicrohttpd failed");
        return -1;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_BIND_PORT);
    m->port = info ? info->port : port;
    return 0;
}

static int init_sync(struct mock_upstream *m)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca))
        return -1;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&m->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (rc)
        return -1;
    if (pthread_mutex_init(&m->lock, NULL) == 0)
        return 0;
    pthread_cond_destroy(&m->wake);
    return -1;
}

struct mock_upstream *mock_start_port(const char *script_json, int port,
                                      char *err, size_t errlen)
{
    if (port < 0 || port > 65535) {
        snprintf(err, errlen, "port %d out of range", port);
        return NULL;
    }
    struct mock_script *s = mock_script_load(script_json, err, errlen);
    if (!s)
        return NULL;
    struct mock_upstream *m = calloc(1, sizeof *m);
    if (!m || init_sync(m)) {
        snprintf(err, errlen, "out of memory");
        free(m);
        mock_script_free(s);
        return NULL;
    }
    m->script = s;
    m->start_ms = mono_ms();
    errno = 0;
    if (listen_on(m, port, err, errlen)) {
        pthread_mutex_destroy(&m->lock);
        pthread_cond_destroy(&m->wake);
        mock_script_free(s);
        free(m);
        return NULL;
    }
    return m;
}

struct mock_upstream *mock_start(const char *script_json, char *err,
                                 size_t errlen)
{
    return mock_start_port(script_json, 0, err, errlen);
}

int mock_check_script(const char *script_json, char *err, size_t errlen)
{
    struct mock_script *s = mock_script_load(script_json, err, errlen);
    mock_script_free(s);
    return s ? 0 : -1;
}

int mock_port(const struct mock_upstream *m)
{
    return m->port;
}

int mock_set_script(struct mock_upstream *m, const char *script_json,
                    char *err, size_t errlen)
{
    struct mock_script *s = mock_script_load(script_json, err, errlen);
    if (!s)
        return -1;
    pthread_mutex_lock(&m->lock);
    struct mock_script *old = m->script;
    m->script = s;
    pthread_mutex_unlock(&m->lock);
    release(m, old);
    return 0;
}

long mock_requests(const struct mock_upstream *cm, const char *route_name)
{
    /* Reading counters needs the lock, which is not part of the value. */
    struct mock_upstream *m = (struct mock_upstream *)cm;
    long n = -1;
    pthread_mutex_lock(&m->lock);
    if (!route_name)
        n = m->total;
    else {
        const struct mock_route *r = mock_script_route(m->script, route_name);
        if (r)
            n = r->requests;
    }
    pthread_mutex_unlock(&m->lock);
    return n;
}

long mock_over_quota(const struct mock_upstream *cm, const char *route_name)
{
    struct mock_upstream *m = (struct mock_upstream *)cm;
    long n = -1;
    if (!route_name)
        return -1;
    pthread_mutex_lock(&m->lock);
    const struct mock_route *r = mock_script_route(m->script, route_name);
    if (r)
        n = r->over_quota;
    pthread_mutex_unlock(&m->lock);
    return n;
}

char *mock_last_body(struct mock_upstream *m, const char *route_name)
{
    char *copy = NULL;
    if (!route_name)
        return NULL;
    pthread_mutex_lock(&m->lock);
    const struct mock_route *r = mock_script_route(m->script, route_name);
    if (r && r->last_body)
        copy = mock_strdup(r->last_body);
    pthread_mutex_unlock(&m->lock);
    return copy;
}

char *mock_last_header(struct mock_upstream *m, const char *route_name,
                       const char *header)
{
    char *copy = NULL;
    if (!route_name || !header)
        return NULL;
    pthread_mutex_lock(&m->lock);
    const struct mock_route *r = mock_script_route(m->script, route_name);
    for (size_t i = 0; r && !copy && i < r->nlast_headers; i++)
        if (strcasecmp(r->last_headers[i].name, header) == 0)
            copy = mock_strdup(r->last_headers[i].value);
    pthread_mutex_unlock(&m->lock);
    return copy;
}

void mock_stop(struct mock_upstream *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    m->stopping = 1;
    pthread_cond_broadcast(&m->wake);
    pthread_mutex_unlock(&m->lock);
    MHD_stop_daemon(m->daemon);
    release(m, m->script);
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->wake);
    free(m);
}
