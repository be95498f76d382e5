/*
 * serve.h - the pieces of `llmroute serve`, the OpenAI-compatible HTTP
 * gateway.  Like the rest of the CLI it uses only the public API.
 *
 *   serve_config.c    [gateway] and [client NAME] sections of the INI
 *   serve_auth.c      Bearer keys (constant time), loopback rule
 *   serve_request.c   OpenAI request JSON -> struct lr_request
 *   serve_response.c  lr_response -> OpenAI JSON, SSE chunks, errors
 *   serve_exchange.c  one request in flight: engine callbacks, suspend/
 *                     resume, the SSE reader
 *   serve_http.c      the libmicrohttpd daemon, routes, shutdown
 *   serve_metrics.c   GET /metrics (Prometheus text) from
 *                     lr_metrics_json(), and recent fallbacks seen by
 *                     the gateway
 *   serve_dashboard.c GET /dashboard (one self-contained page) and the
 *                     JSON it polls, GET /dashboard/data
 *   cmd_serve.c       options, signals
 */
#ifndef LR_CLI_SERVE_H
#define LR_CLI_SERVE_H

#include <stddef.h>
#include <stdint.h>

struct lr_router;
struct lr_request;
struct lr_response;

/* --- Configuration (serve_config.c) ------------------------------------ */

struct serve_client {
    char *name;
    char *key;               /* the key itself, read from key_env */
    size_t key_len;
    char *user;              /* end-user id for budgets/limits, or NULL */
    int allow_user_override; /* the body's "user" wins over ours */
};

struct serve_config {
    char *listen;                /* HOST:PORT */
    int64_t max_body_bytes;
    int64_t max_connections;
    int allow_anonymous;
    int64_t shutdown_timeout_ms;
    struct serve_client *clients;
    size_t n_clients;
};

/* Read [gateway] and every [client NAME] of path; keys come from the
   environment.  0, or -1 with "FILE:LINE: message" in err. */
int serve_config_load(const char *path, struct serve_config *c, char *err,
                      size_t errlen);
void serve_config_free(struct serve_config *c);

/* --- Auth (serve_auth.c) ------------------------------------------------ */

enum serve_auth {
    SERVE_AUTH_OK = 0,
    SERVE_AUTH_MISSING,       /* keys configured, none given */
    SERVE_AUTH_WRONG,         /* a key that matches no client */
    SERVE_AUTH_NOT_LOOPBACK   /* no keys, not anonymous, remote peer */
};

/* Check an Authorization header value (may be NULL) for a peer; *who is
   the matching client or NULL (anonymous). */
enum serve_auth serve_auth_check(const struct serve_config *c,
                                 const char *authorization, int loopback,
                                 const struct serve_client **who);

/* 1 when a (alen bytes) equals b (blen bytes); the time taken depends
   on alen only, never on where the bytes differ. */
int serve_ct_equal(const char *a, size_t alen, const char *b, size_t blen);

/* --- Errors and models (serve_response.c) ------------------------------ */

/* An error as OpenAI clients expect it. */
struct serve_error {
    unsigned status;
    const char *type;        /* OpenAI's error.type */
    const char *code;        /* our class name, error.code */
    const char *param;       /* or NULL */
    char message[512];
    int64_t retry_after_ms;  /* -1: none */
};

void serve_error_set(struct serve_error *e, unsigned status,
                     const char *code, const char *param, const char *fmt,
                     ...) __attribute__((format(printf, 5, 6)));
/* Status, type and code for a failed response. */
void serve_error_from_response(const struct lr_response *resp,
                               struct serve_error *e);
/* {"error":{...}}, malloc'd (NULL on out of memory). */
char *serve_error_json(const struct serve_error *e);

/* Model names the gateway accepts: targets, then tiers and "auto". */
struct serve_models {
    char **names;
    size_t n, n_targets;
};

int serve_models_load(struct lr_router *r, struct serve_models *m);
void serve_models_free(struct serve_models *m);
char *serve_models_json(const struct serve_models *m);

/* --- Request (serve_request.c) ----------------------------------------- */

struct serve_parsed {
    char model[128];
    int stream, include_usage;
};

/* Fill req from a chat.completions body.  user is the client's end-user
   id (may be NULL); the body's "user" is used when user is NULL or
   override is set.  0, or -1 with e filled (400 or 404). */
int serve_request_build(const char *body, size_t len,
                        const struct serve_models *models, const char *user,
                        int override, struct lr_request *req,
                        struct serve_parsed *out, struct serve_error *e);

/* --- Response (serve_response.c) --------------------------------------- */

/* The chat.completion object; malloc'd. */
char *serve_completion_json(const struct lr_response *resp,
                            const char *id, long long created,
                            const char *model);

/* Appenders for SSE bytes ("data: {...}\n\n"); 0 or -1 (no memory).
   A failed append sets failed, and every later one fails too, so a run
   of appends is checked once at its end. */
struct serve_buf {
    char *data;
    size_t len, cap;
    int failed;
};

int serve_buf_add(struct serve_buf *b, const char *p, size_t n);
void serve_buf_free(struct serve_buf *b);
/* The text (the caller frees it) and b emptied; NULL when an append
   failed or nothing was added. */
char *serve_buf_take(struct serve_buf *b);

/* --- JSON text (serve_json.c) ------------------------------------------ */

/* Appends JSON text to b as cJSON_PrintUnformatted prints the same values,
   without building a tree (see serve_json.c for why).  Failures land in
   b->failed. */
void serve_json_raw(struct serve_buf *b, const char *s, size_t n);
#define serve_json_lit(b, s) serve_json_raw((b), (s), sizeof(s) - 1)
/* n bytes of s, quoted and escaped (NUL bytes as \u0000). */
void serve_json_str(struct serve_buf *b, const char *s, size_t n);
/* s quoted and escaped, or null when s is NULL. */
void serve_json_strz(struct serve_buf *b, const char *s);
void serve_json_int(struct serve_buf *b, long long v);

/* A chunk with delta {role?, content} (text may be NULL: role only). */
int serve_sse_delta(struct serve_buf *b, const char *id, long long created,
                    const char *model, int with_role, const char *text,
                    size_t len);
/* The end of a stream: tool calls, finish_reason, usage when asked, then
   [DONE]; or the error event then [DONE] when resp failed. */
int serve_sse_end(struct serve_buf *b, const char *id, long long created,
                  const char *model, const struct lr_response *resp,
                  int include_usage);

/* --- Metrics (serve_metrics.c) ----------------------------------------- */

#define SERVE_FALLBACKS 20   /* recent fallbacks kept for the dashboard */

/* One move from a target to another in an attempt trail. */
struct serve_fallback {
    char from[64], to[64];
    char reason[160];        /* "policy: reason", or the error class */
    int64_t at_ms;           /* wall clock, ms since the epoch */
};

/* What the gateway observes itself: the last SERVE_FALLBACKS fallbacks
   (the router's metrics have no attempt trails).  Thread-safe. */
struct serve_stats;

struct serve_stats *serve_stats_new(void);
void serve_stats_free(struct serve_stats *st);
/* Look at a finished response (borrowed) answered at wall_ms. */
void serve_stats_record(struct serve_stats *st, const struct lr_response *r,
                        int64_t wall_ms);
/* Copy up to max recent fallbacks, newest first; how many. */
size_t serve_stats_fallbacks(struct serve_stats *st,
                             struct serve_fallback *out, size_t max);
/* The Prometheus text for GET /metrics; malloc'd, NULL on out of
   memory. */
char *serve_metrics_text(struct lr_router *r);
/* A metric name: bytes outside [a-zA-Z0-9_] become '_' (out: n bytes). */
void serve_prom_name(const char *in, char *out, size_t n);
/* A label value with \\, \" and newline escaped; malloc'd or NULL. */
char *serve_prom_escape(const char *v);

/* --- Dashboard (serve_dashboard.c) ------------------------------------- */

/* The page: static, self-contained (no external resource). */
const char *serve_dashboard_html(void);
/* {"metrics":{lr_metrics_json},"fallbacks":[...],"breakers":[...],
   "budget":{...}}, malloc'd; NULL on out of memory. */
char *serve_dashboard_json(struct serve_stats *st, struct lr_router *r);

/* --- Server (serve_http.c) --------------------------------------------- */

struct serve_server;

/* Start serving r on listen (HOST:PORT, port 0: the kernel picks).  NULL
   with a reason in err. */
struct serve_server *serve_start(struct lr_router *r,
                                 const struct serve_config *c,
                                 const char *listen, char *err,
                                 size_t errlen);
int serve_port(const struct serve_server *s);
/* Stop accepting, let requests in flight finish for deadline_ms, cancel
   what is left, stop and free.  The router stays open. */
void serve_stop(struct serve_server *s, int64_t deadline_ms);

#endif
