/*
 * serve_http.c - the gateway's HTTP server (libmicrohttpd) in external
 * epoll mode, run on the router's engine thread: libmicrohttpd's epoll
 * fd is handed to lr_watch_fd(), so a request is read, submitted,
 * answered upstream and written back on one thread, with no hand-off
 * between an HTTP thread and the engine's (that cost a wakeup and two
 * context switches per request).  Connections are suspended while the
 * engine works (serve_exchange.c); TCP_NODELAY on every accepted socket
 * so small SSE writes are not held back by Nagle.  At shutdown the main
 * thread takes the daemon back (lr_unwatch_fd) and drives it itself
 * while the requests in flight finish.
 *
 * Routes:
 *   GET  /healthz              200 {"status":"ok"}, no key needed
 *   GET  /v1/models            targets, then simple, medium, complex, auto
 *   POST /v1/chat/completions  non-streamed or SSE (serve_request.c)
 *   GET  /metrics              Prometheus text (serve_metrics.c)
 *   GET  /dashboard            the HTML page, no key needed (it holds
 *                              no data); /dashboard/data, its JSON
 * Anything else is 404 (405 for a known path with another method), in
 * OpenAI's error shape.  /metrics and /dashboard/data follow the API's
 * key/loopback rule.
 *
 * Request bodies over max_body_bytes get 413: at once when the
 * Content-Length says so (the body is never read), else once the
 * chunked upload has gone past the limit (the rest is discarded).
 * Request headers over SERVE_MAX_HEADER_BYTES get 431 (below).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "llmroute.h"
#include "serve_exchange.h"

/* Each connection's memory pool (libmicrohttpd's default is 32 KiB): it
   holds a request's headers and the read and write buffers, and
   libmicrohttpd zeroes it for every request on the connection, which at
   32 KiB cost 3 to 5% of the gateway's throughput.  Bodies stream through
   it whatever their size; headers are limited (SERVE_MAX_HEADER_BYTES). */
#define SERVE_CONN_POOL_BYTES 16384

/* --- Request header limit ----------------------------------------------
 *
 * libmicrohttpd 0.9.75 keeps a request's header lines in the pool until
 * the request ends, plus one record per header, cookie and query
 * argument (some 60 bytes; 64 are counted), and builds the answer's
 * header block in what is left.  Headers that almost fill the pool are
 * accepted, and then the answer cannot be built: libmicrohttpd closes
 * the connection ("failed to create response header") without any
 * status (its own 431 only comes once the headers themselves no longer
 * fit).  So the first call of every request counts what the
 * headers took (header bytes + a rounded-up record each) and:
 *   - up to SERVE_MAX_HEADER_BYTES: served; the 4 KiB left hold any
 *     answer's headers (a few hundred bytes), a stream's chunk buffer
 *     and the read buffer a body streams through;
 *   - above it: 431 request_header_fields_too_large, queued as usual
 *     up to SERVE_RAW_431_ABOVE: its header block is about 160 bytes
 *     (measured: it failed from 16225 counted bytes on, 159 short of
 *     the pool), so 1 KiB left is ample even if the count is a little
 *     low;
 *   - above that: written to the socket by us (libmicrohttpd could not)
 *     and the connection closed.
 * Measured without the limit: a GET of 16065 to 16192 bytes (3 fields)
 * got no answer, its 401 not built; from 16193 on, libmicrohttpd's 431.
 * test_header_limits sweeps the sizes.
 */
#define SERVE_MAX_HEADER_BYTES (SERVE_CONN_POOL_BYTES - 4096)
#define SERVE_RAW_431_ABOVE (SERVE_CONN_POOL_BYTES - 1024)
#define SERVE_HEADER_RECORD_BYTES 64

/* --- Replies ------------------------------------------------------------ */

/* Queue body (malloc'd, taken over; NULL: out of memory) as JSON. */
static enum MHD_Result reply_json(struct MHD_Connection *conn,
                                  unsigned status, char *body,
                                  int64_t retry_after_ms,
                                  const struct lr_response *resp)
{
    if (!body) {
        static const char oom[] = "{\"error\":{\"message\":\"out of memory\","
            "\"type\":\"server_error\",\"param\":null,\"code\":\"nomem\"}}";
        body = strdup(oom);
        status = 500;
        if (!body)
            return MHD_NO;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(
        strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    char v[64];
    if (retry_after_ms >= 0) {
        snprintf(v, sizeof v, "%lld", (long long)((retry_after_ms + 999) /
                                                  1000));
        MHD_add_response_header(r, "Retry-After", v);
        snprintf(v, sizeof v, "%lld", (long long)retry_after_ms);
        MHD_add_response_header(r, "retry-after-ms", v);
    }
    if (resp) {
        const char *t = lr_response_target(resp), *tier =
            lr_response_tier(resp);
        if (t)
            MHD_add_response_header(r, "x-llmroute-target", t);
        if (tier)
            MHD_add_response_header(r, "x-llmroute-tier", tier);
        snprintf(v, sizeof v, "%zu", lr_response_attempt_count(resp));
        MHD_add_response_header(r, "x-llmroute-attempts", v);
        snprintf(v, sizeof v, "chatcmpl-%llu",
                 (unsigned long long)lr_response_id(resp));
        MHD_add_response_header(r, "x-request-id", v);
    }
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_error(struct MHD_Connection *conn,
                                   const struct serve_error *e,
                                   const struct lr_response *resp)
{
    return reply_json(conn, e->status, serve_error_json(e),
                      e->retry_after_ms, resp);
}

static enum MHD_Result reply_simple(struct MHD_Connection *conn,
                                    unsigned status, const char *code,
                                    const char *msg)
{
    struct serve_error e;
    serve_error_set(&e, status, code, NULL, "%s", msg);
    return reply_error(conn, &e, NULL);
}

/* Queue body (malloc'd, taken over; NULL: out of memory) as type. */
static enum MHD_Result reply_text(struct MHD_Connection *conn, char *body,
                                  const char *type, enum MHD_ResponseMemoryMode
                                  mode)
{
    if (!body)
        return reply_json(conn, 500, NULL, -1, NULL);
    struct MHD_Response *r = MHD_create_response_from_buffer(
        strlen(body), body, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ret = MHD_queue_response(conn, 200, r);
    MHD_destroy_response(r);
    return ret;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- Auth ---------------------------------------------------------------- */

static int is_loopback(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
        conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    if (sa && sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa && sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)
                                     (const void *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) ||
               (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return 0;
}

/* MHD_YES with *who set when the caller may go on; otherwise the error
   is queued and *done set. */
static enum MHD_Result authorize(struct serve_server *s,
                                 struct MHD_Connection *conn,
                                 const struct serve_client **who, int *done)
{
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                "Authorization");
    enum serve_auth a = serve_auth_check(s->cfg, h, is_loopback(conn), who);
    *done = a != SERVE_AUTH_OK;
    if (a == SERVE_AUTH_MISSING)
        return reply_simple(conn, 401, "invalid_api_key", "Missing API key:"
                            " send Authorization: Bearer KEY");
    if (a == SERVE_AUTH_WRONG)
        return reply_simple(conn, 401, "invalid_api_key",
                            "Incorrect API key provided");
    if (a == SERVE_AUTH_NOT_LOOPBACK)
        return reply_simple(conn, 403, "forbidden", "No client keys are "
                            "configured: only loopback callers are served "
                            "(add [client NAME] sections or "
                            "allow_anonymous = true)");
    return MHD_YES;
}

/* --- Header limit (see SERVE_MAX_HEADER_BYTES) ------------------------- */

/* What the request's headers took of the pool, as counted there. */
static size_t header_bytes(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
        conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    int n = MHD_get_connection_values(
        conn, (enum MHD_ValueKind)(MHD_HEADER_KIND | MHD_COOKIE_KIND |
                                   MHD_GET_ARGUMENT_KIND), NULL, NULL);
    return (ci ? ci->header_size : 0) +
           (size_t)(n > 0 ? n : 0) * SERVE_HEADER_RECORD_BYTES;
}

/* The 431 straight onto the socket, for headers that left libmicrohttpd
   no room to build it; MHD_NO then closes the connection (libmicrohttpd
   logs that as "Application reported internal error"; mhd_log below
   drops that one line).  What the client already sent is read away
   first (bounded), so that the close is a FIN after the answer, not a
   reset that could make the client drop it. */
static enum MHD_Result reply_431_raw(struct serve_server *s,
                                     struct MHD_Connection *conn,
                                     const char *body)
{
    atomic_fetch_add(&s->raw_431s, 1);
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
        conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return MHD_NO;
    char head[160];
    int n = snprintf(head, sizeof head, "HTTP/1.1 431 Request Header "
                     "Fields Too Large\r\nContent-Type: application/json"
                     "\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                     strlen(body));
    struct iovec iov[2] = {{head, (size_t)n}, {(void *)body, strlen(body)}};
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};
    /* Nothing else is written meanwhile (the previous answer on the
       connection went out whole); a short write can only come from a
       client that stopped reading, and it loses the rest. */
    if (sendmsg(ci->connect_fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
        return MHD_NO;
    shutdown(ci->connect_fd, SHUT_WR);
    char sink[4096];
    for (int i = 0; i < 16; i++)
        if (recv(ci->connect_fd, sink, sizeof sink, MSG_DONTWAIT) <= 0)
            break;
    return MHD_NO;
}

static enum MHD_Result reply_431(struct serve_server *s,
                                 struct MHD_Connection *conn, size_t used)
{
    struct serve_error e;
    serve_error_set(&e, 431, "request_header_fields_too_large", NULL,
                    "Request headers too large (limit %d bytes)",
                    SERVE_MAX_HEADER_BYTES);
    if (used <= SERVE_RAW_431_ABOVE)
        return reply_error(conn, &e, NULL);
    char *body = serve_error_json(&e);
    enum MHD_Result ret = body ? reply_431_raw(s, conn, body) : MHD_NO;
    free(body);
    return ret;
}

/* --- Chat ------------------------------------------------------------- */

static enum MHD_Result answer(struct exchange *x)
{
    pthread_mutex_lock(&x->mu);
    struct lr_response *resp = x->done ? x->resp : NULL;
    pthread_mutex_unlock(&x->mu);
    int failed = resp && lr_response_status(resp) != LR_OK;
    if (x->parsed.stream && !failed) {
        struct MHD_Response *r = exchange_sse_response(x);
        if (!r)
            return MHD_NO;
        MHD_add_response_header(r, "x-request-id", x->id);
        enum MHD_Result ret = MHD_queue_response(x->conn, 200, r);
        MHD_destroy_response(r);
        return ret;
    }
    /* Counted before the client can see the answer, so a client reading
       /metrics next sees it; an SSE stream is counted when it ends. */
    if (resp && (failed || !x->parsed.stream))
        serve_stats_record(x->srv->stats, resp, wall_ms());
    if (failed) {
        struct serve_error e;
        serve_error_from_response(resp, &e);
        return reply_error(x->conn, &e, resp);
    }
    return reply_json(x->conn, 200, serve_completion_json(resp, x->id,
                      x->created, x->parsed.model), -1, resp);
}

/* The whole body is in: build the request and hand it to the engine. */
static enum MHD_Result start_chat(struct serve_server *s, struct exchange *x)
{
    struct serve_error e;
    memset(&e, 0, sizeof e);
    if (x->too_big) {
        serve_error_set(&e, 413, "request_too_large", NULL, "The request "
                        "body is larger than max_body_bytes (%lld)",
                        (long long)s->cfg->max_body_bytes);
        return reply_error(x->conn, &e, NULL);
    }
    struct lr_request *req = lr_request_new();
    const struct serve_client *cl = x->client;
    if (!req)
        return reply_json(x->conn, 500, NULL, -1, NULL);
    int rc = serve_request_build(x->body.data ? x->body.data : "",
                                 x->body.len, &s->models,
                                 cl ? cl->user : NULL,
                                 cl ? cl->allow_user_override : 0, req,
                                 &x->parsed, &e);
    x->created = (long long)time(NULL);
    if (!rc && exchange_submit(x, req) != 0) {
        serve_error_set(&e, 503, "stopped", NULL, "The gateway is shutting "
                        "down");
        rc = -1;
    }
    lr_request_free(req);
    serve_buf_free(&x->body);   /* not needed while the request waits */
    if (rc)
        return reply_error(x->conn, &e, NULL);
    snprintf(x->id, sizeof x->id, "chatcmpl-%llu",
             (unsigned long long)x->req_id);
    return MHD_YES;
}

static enum MHD_Result chat(struct serve_server *s, struct exchange *x,
                            const char *upload, size_t *upload_size)
{
    if (*upload_size) {
        if (!x->too_big && x->body.len + *upload_size >
                               (size_t)s->cfg->max_body_bytes) {
            x->too_big = 1;
            serve_buf_free(&x->body);
        }
        if (!x->too_big && serve_buf_add(&x->body, upload, *upload_size))
            return MHD_NO;
        *upload_size = 0;
        return MHD_YES;
    }
    if (!x->started) {
        x->started = 1;
        enum MHD_Result ret = start_chat(s, x);
        if (!x->submitted)
            return ret;
    }
    return exchange_ready(x) ? answer(x) : MHD_YES;
}

/* First call for POST /v1/chat/completions: auth, size, an exchange. */
static enum MHD_Result open_chat(struct serve_server *s,
                                 struct MHD_Connection *conn, void **con_cls)
{
    const struct serve_client *who;
    int done;
    enum MHD_Result ret = authorize(s, conn, &who, &done);
    if (done)
        return ret;
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 "Content-Length");
    if (cl && strtoll(cl, NULL, 10) > s->cfg->max_body_bytes) {
        struct serve_error e;
        serve_error_set(&e, 413, "request_too_large", NULL, "The request "
                        "body is larger than max_body_bytes (%lld)",
                        (long long)s->cfg->max_body_bytes);
        return reply_error(conn, &e, NULL);
    }
    struct exchange *x = exchange_new(s, conn);
    if (!x)
        return MHD_NO;
    x->client = who;
    *con_cls = x;
    return MHD_YES;
}

/* --- Routing ------------------------------------------------------------ */

/* *con_cls of a request other than a chat, between its first call (the
   headers) and its last: answering on the first call would make
   libmicrohttpd close the connection, losing keep-alive. */
static char other_request;

static enum MHD_Result route(struct serve_server *s,
                             struct MHD_Connection *conn, const char *url,
                             const char *method)
{
    int get = !strcmp(method, "GET");
    if (!strcmp(url, "/healthz") && get)
        return reply_json(conn, 200, strdup("{\"status\":\"ok\"}"), -1,
                          NULL);
    if (!strcmp(url, "/v1/models") && get) {
        const struct serve_client *who;
        int done;
        enum MHD_Result ret = authorize(s, conn, &who, &done);
        return done ? ret : reply_json(conn, 200,
                                       serve_models_json(&s->models), -1,
                                       NULL);
    }
    if (!strcmp(url, "/dashboard") && get)
        return reply_text(conn, (char *)serve_dashboard_html(),
                          "text/html; charset=utf-8",
                          MHD_RESPMEM_PERSISTENT);
    int metrics = !strcmp(url, "/metrics");
    int data = !strcmp(url, "/dashboard/data");
    if ((metrics || data) && get) {
        const struct serve_client *who;
        int done;
        enum MHD_Result ret = authorize(s, conn, &who, &done);
        if (done)
            return ret;
        if (data)
            return reply_json(conn, 200, serve_dashboard_json(s->stats,
                              s->router), -1, NULL);
        return reply_text(conn, serve_metrics_text(s->router),
                          "text/plain; version=0.0.4; charset=utf-8",
                          MHD_RESPMEM_MUST_FREE);
    }
    if (!strcmp(url, "/healthz") || !strcmp(url, "/v1/models") ||
        !strcmp(url, "/v1/chat/completions") || metrics || data ||
        !strcmp(url, "/dashboard"))
        return reply_simple(conn, 405, "method_not_allowed",
                            "Method not allowed for this path");
    return reply_simple(conn, 404, "not_found", "Unknown path");
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn,
                               const char *url, const char *method,
                               const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    struct serve_server *s = cls;
    (void)version;
    if (*con_cls == &other_request) {
        if (*upload_size) {
            *upload_size = 0;   /* a body nobody asked for: dropped */
            return MHD_YES;
        }
        return route(s, conn, url, method);
    }
    if (*con_cls)
        return chat(s, *con_cls, upload, upload_size);
    size_t used = header_bytes(conn);
    if (used > SERVE_MAX_HEADER_BYTES)
        return reply_431(s, conn, used);
    if (!strcmp(url, "/v1/chat/completions") && !strcmp(method, "POST"))
        return open_chat(s, conn, con_cls);
    *con_cls = &other_request;
    return MHD_YES;
}

static void completed(void *cls, struct MHD_Connection *conn,
                      void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct exchange *x = *con_cls == &other_request ? NULL : *con_cls;
    if (x && x->parsed.stream && x->sse_role_sent) {
        /* A stream that was answered (answer() counted the others). */
        pthread_mutex_lock(&x->mu);
        if (x->done)
            serve_stats_record(x->srv->stats, x->resp, wall_ms());
        pthread_mutex_unlock(&x->mu);
    }
    if (x)
        exchange_closed(x);
    *con_cls = NULL;
}

/* Each client socket: TCP_NODELAY (no 40 ms Nagle stalls on small
   writes), and its entry in the hang-up watch from accept to close. */
static void notify_conn(void *cls, struct MHD_Connection *conn,
                        void **socket_context,
                        enum MHD_ConnectionNotificationCode toe)
{
    struct serve_server *s = cls;
    struct serve_conn *sc = *socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        if (sc)
            serve_watch_close(s->watch, sc->fd, sc->watch_gen);
        free(sc);
        *socket_context = NULL;
        return;
    }
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
        conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return;
    int one = 1;
    setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if ((sc = malloc(sizeof *sc))) {
        sc->fd = ci->connect_fd;
        sc->watch_gen = serve_watch_open(s->watch, sc->fd);
        *socket_context = sc;
    }
}

/* --- Daemon ------------------------------------------------------------- */

/* The watch's fn (engine thread): whatever libmicrohttpd has to do, then
   when it wants to run again (its connection timeouts). */
static int64_t run_http(void *user)
{
    struct serve_server *s = user;
    MHD_run(s->daemon);
    MHD_UNSIGNED_LONG_LONG ms;
    if (MHD_get_timeout(s->daemon, &ms) != MHD_YES)
        return -1;
    return ms > 60000 ? 60000 : (int64_t)ms;
}

/* HOST:PORT ([v6addr]:PORT too) into addr. */
static int parse_listen(const char *listen, struct sockaddr_storage *addr,
                        char *err, size_t errlen)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    size_t hl = colon ? (size_t)(colon - listen) : 0;
    if (!colon || !hl || hl >= sizeof host || !colon[1]) {
        snprintf(err, errlen, "--listen wants HOST:PORT, got '%s'", listen);
        return -1;
    }
    memcpy(host, listen, hl);
    host[hl] = '\0';
    if (host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc || !res) {
        snprintf(err, errlen, "--listen %s: %s", listen, gai_strerror(rc));
        return -1;
    }
    memset(addr, 0, sizeof *addr);
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

/* libmicrohttpd's own messages, on stderr as its default logger writes
   them, except the "internal error" that follows each close this server
   asked for after writing a 431 itself: that close is on purpose, and
   an operator should not see it as a fault. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct serve_server *s = cls;
    char line[1024];
    vsnprintf(line, sizeof line, fmt, ap);
    int pending = atomic_load(&s->raw_431s);
    if (pending > 0 && strstr(line, "Application reported internal error") &&
        atomic_compare_exchange_strong(&s->raw_431s, &pending, pending - 1))
        return;
    fputs(line, stderr);
}

struct serve_server *serve_start(struct lr_router *r,
                                 const struct serve_config *c,
                                 const char *listen, char *err,
                                 size_t errlen)
{
    struct sockaddr_storage addr;
    if (parse_listen(listen, &addr, err, errlen))
        return NULL;
    struct serve_server *s = calloc(1, sizeof *s);
    if (!s || serve_models_load(r, &s->models)) {
        snprintf(err, errlen, "out of memory");
        if (s)
            serve_models_free(&s->models);
        free(s);
        return NULL;
    }
    s->router = r;
    s->epoll_fd = -1;
    s->cfg = c;
    if (!(s->stats = serve_stats_new()) ||
        !(s->watch = serve_watch_new())) {
        snprintf(err, errlen, "out of memory");
        serve_stats_free(s->stats);
        serve_models_free(&s->models);
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME
                     | MHD_USE_ERROR_LOG;
    if (addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, handler, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
        MHD_OPTION_NOTIFY_COMPLETED, completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, notify_conn, s,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)300,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)SERVE_CONN_POOL_BYTES,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)c->max_connections,
        MHD_OPTION_END);
    const union MHD_DaemonInfo *di = s->daemon
        ? MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    if (!di) {
        snprintf(err, errlen, "cannot listen on %s: %s", listen,
                 s->daemon ? "no port" : strerror(errno));
        serve_stop(s, 0);
        return NULL;
    }
    s->port = di->port;
    /* Set before the watch starts: the engine thread may run the daemon
       (and resume connections, which reads it) at once. */
    di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    s->epoll_fd = di ? di->epoll_fd : -1;
    int rc = di ? lr_watch_fd(r, s->epoll_fd, run_http, s)
                : LR_E_INVALID_ARG;
    if (rc != LR_OK) {
        snprintf(err, errlen, "cannot serve on the engine thread: %s",
                 lr_strerror(rc));
        s->epoll_fd = -1;
        serve_stop(s, 0);
        return NULL;
    }
    return s;
}

int serve_port(const struct serve_server *s)
{
    return s->port;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Main thread, the daemon taken back from the engine: drive it until
   nothing is live or deadline (CLOCK_MONOTONIC ms) passes.  The engine
   still answers upstream and resumes connections meanwhile. */
static void drive_until_idle(struct serve_server *s, int64_t deadline)
{
    for (;;) {
        pthread_mutex_lock(&s->mu);
        size_t live = s->live;
        pthread_mutex_unlock(&s->mu);
        int64_t left = deadline - mono_ms();
        if (!live || left <= 0)
            return;
        MHD_run_wait(s->daemon, (int32_t)(left < 50 ? left : 50));
    }
}

void serve_stop(struct serve_server *s, int64_t deadline_ms)
{
    if (!s)
        return;
    if (s->daemon) {
        if (s->epoll_fd >= 0)
            lr_unwatch_fd(s->router, s->epoll_fd);
        MHD_socket fd = MHD_quiesce_daemon(s->daemon);
        if (fd != MHD_INVALID_SOCKET)
            close(fd);
        drive_until_idle(s, mono_ms() + deadline_ms);
        /* Past the grace period: cancel what still runs; the cancelled
           requests answer (503) and their connections resume, which
           libmicrohttpd needs before it may stop. */
        pthread_mutex_lock(&s->mu);
        for (struct exchange *x = s->list; x; x = x->next)
            exchange_cancel(x);
        pthread_mutex_unlock(&s->mu);
        drive_until_idle(s, mono_ms() + 2000);
        MHD_stop_daemon(s->daemon);
    }
    serve_watch_free(s->watch);
    serve_models_free(&s->models);
    serve_stats_free(s->stats);
    pthread_mutex_destroy(&s->mu);
    free(s);
}
