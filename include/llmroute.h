/*
 * llmroute.h - the application API of llmroute.
 *
 * A router is opened from an INI file describing targets (provider +
 * model + credentials + prices) and a pipeline of policies.  Requests are
 * built with lr_request_*(), then sent with:
 *   lr_complete()  blocking; returns the response,
 *   lr_stream()    blocking, with a callback per text delta,
 *   lr_submit()    asynchronous, with an optional delta callback and a
 *                  completion callback; cancellable with lr_cancel().
 *
 * Threads: every function taking a router may be called from any number
 * of threads at once.  lr_complete() and lr_stream() run the request on
 * the calling thread (its on_delta is called there); lr_submit()'s
 * callbacks run on the router's engine thread: keep them short, and never
 * call lr_complete()/lr_stream()/lr_close() from one (lr_submit() and
 * lr_cancel() are fine).
 *
 * Ownership is stated on each declaration.  In short: the caller owns
 * what it creates (router, request) and every response it is handed, and
 * frees them with the matching lr_*_free()/lr_close(); strings returned
 * by getters belong to their object; strings returned as char * are the
 * caller's, freed with lr_free().
 */
#ifndef LLMROUTE_H
#define LLMROUTE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define LR_API __attribute__((visibility("default")))
#else
#define LR_API
#endif

#define LR_VERSION "0.1.0"

/* --- Status and error classes (identical block in llmroute_plugin.h) - */
#ifndef LR_STATUS_DEFINED
#define LR_STATUS_DEFINED
/*
 * One status vocabulary for the whole library: LR_OK, the error classes
 * of a request (design notes), then API-level failures.  Values are never
 * renumbered; new ones are appended.
 */
enum lr_status {
    LR_OK = 0,
    LR_E_RATE_LIMITED = 1,        /* upstream 429: retryable, usually a hint */
    LR_E_QUOTA_EXHAUSTED = 2,     /* daily/monthly quota, no credit */
    LR_E_OVERLOADED = 3,          /* 503 / 529 */
    LR_E_SERVER_ERROR = 4,        /* other 5xx */
    LR_E_TIMEOUT = 5,             /* attempt or whole-request deadline */
    LR_E_NETWORK = 6,             /* connect/reset/truncated stream */
    LR_E_AUTH = 7,                /* 401/403: bad or disabled key */
    LR_E_BAD_REQUEST = 8,
    LR_E_CONTEXT_LENGTH = 9,
    LR_E_CONTENT_FILTER = 10,
    LR_E_BUDGET_EXCEEDED = 11,
    LR_E_RATE_LIMITED_LOCAL = 12, /* our own per-user/target limit */
    LR_E_NO_TARGET = 13,          /* every candidate skipped */
    LR_E_CANCELLED = 14,
    LR_E_INVALID_ARG = 100,       /* API misuse */
    LR_E_NOMEM = 101,
    LR_E_CONFIG = 102,
    LR_E_PLUGIN = 103,
    LR_E_NOT_FOUND = 104,
    LR_E_INTERNAL = 105,
    LR_E_PROTOCOL = 106,          /* upstream answer we cannot parse */
    LR_E_STOPPED = 107            /* router is closing */
};
#endif /* LR_STATUS_DEFINED */

/* A human sentence for a status; static storage. */
LR_API const char *lr_strerror(enum lr_status st);
/* The error-class name used in JSON, logs and metrics ("rate_limited",
   "ok", ...); static storage. */
LR_API const char *lr_status_name(enum lr_status st);

/* Frees a string or JSON text returned by this library. */
LR_API void lr_free(void *p);

/* --- Logging (process-wide) -------------------------------------------- */

/* level: 0 error, 1 warn, 2 info, 3 debug (as enum lr_log_level). */
typedef void (*lr_log_fn)(int level, const char *line, void *user);

/* Route library log lines to fn (NULL: back to stderr).  Lines never
   contain API keys; prompts and answers are not logged.  Set it before
   lr_open() to see load-time messages.  It may be replaced at any time,
   from any thread (also from inside fn): lines logged from then on go
   to the new fn; the old one may still finish a call in progress. */
LR_API void lr_set_log_cb(lr_log_fn fn, void *user);
/* Lines above this level are dropped (default: warn). */
LR_API void lr_set_log_level(int level);

/* --- Router ------------------------------------------------------------ */

struct lr_router;

/*
 * Load ini_path, its plugins and targets, and start the engine thread.
 * On failure returns NULL and writes "FILE:LINE: message" (or the
 * plugin file and reason) into err.  The returned router is the
 * caller's; release it with lr_close().
 */
LR_API struct lr_router *lr_open(const char *ini_path, char *err,
                                 size_t errlen);

/*
 * Stop the engine: requests still in flight complete with
 * LR_E_CANCELLED (their callbacks fire), then every plugin instance is
 * destroyed and the router freed.  NULL is ignored.
 */
LR_API void lr_close(struct lr_router *r);

/* --- Requests ---------------------------------------------------------- */

struct lr_request;

enum lr_msg_role {
    LR_MSG_SYSTEM = 0,
    LR_MSG_USER = 1,
    LR_MSG_ASSISTANT = 2,
    LR_MSG_TOOL = 3
};

/* A new empty request, owned by the caller (lr_request_free()).  NULL on
   out-of-memory. */
LR_API struct lr_request *lr_request_new(void);
LR_API void lr_request_free(struct lr_request *req);

/* Setters copy their string arguments.  Each returns LR_OK or
   LR_E_INVALID_ARG / LR_E_NOMEM.  lr_request_add_message takes system,
   user and assistant turns (a system turn sets the system prompt); tool
   turns go through lr_request_add_tool_result. */
LR_API int lr_request_set_system(struct lr_request *req, const char *text);
LR_API int lr_request_add_message(struct lr_request *req,
                                  enum lr_msg_role role, const char *text);
/* Shorthand: one user message. */
LR_API int lr_request_set_prompt(struct lr_request *req, const char *text);
LR_API int lr_request_set_max_tokens(struct lr_request *req, int64_t n);
LR_API int lr_request_set_temperature(struct lr_request *req, double t);
LR_API int lr_request_add_stop(struct lr_request *req, const char *stop);
/* Sampling hints, as OpenAI names them: top_p in (0, 1], penalties in
   [-2, 2].  A provider whose API lacks one leaves it out (README,
   "Providers"). */
LR_API int lr_request_set_top_p(struct lr_request *req, double p);
LR_API int lr_request_set_seed(struct lr_request *req, int64_t seed);
LR_API int lr_request_set_presence_penalty(struct lr_request *req,
                                           double v);
LR_API int lr_request_set_frequency_penalty(struct lr_request *req,
                                            double v);
/* The answer's format, as OpenAI's response_format: {"type":"text"} (the
   default), {"type":"json_object"}, or {"type":"json_schema",
   "json_schema":{"name":"...","schema":{...},"strict":true}}.  Checked
   here (LR_E_INVALID_ARG when it is none of these).  A target whose
   provider cannot honour it is skipped, so the request falls back to one
   that can (LR_E_NO_TARGET when none can). */
LR_API int lr_request_set_response_format_json(struct lr_request *req,
                                               const char *json);
/* End-user id, for per-user budgets and limits. */
LR_API int lr_request_set_user(struct lr_request *req, const char *user);
/* Whole-request deadline for this request (default: [router] timeout_ms). */
LR_API int lr_request_set_timeout_ms(struct lr_request *req, int64_t ms);
/* Try only this target (bypasses routing). */
LR_API int lr_request_set_target(struct lr_request *req, const char *name);
/* Conversation id: routing policies keep a conversation's turns together
   (the complexity router never drops a conversation to a lower tier). */
LR_API int lr_request_set_conversation(struct lr_request *req,
                                       const char *id);
/* Nonzero: do not answer from a response cache (the fresh answer may
   still be stored). */
LR_API int lr_request_set_cache_bypass(struct lr_request *req, int bypass);
/* A request attribute policies read, e.g. "tier_want" = "simple" |
   "medium" | "complex" asks the routing policy for that tier (see
   llmroute_plugin.h for the well-known names).  value NULL removes. */
LR_API int lr_request_set_attr(struct lr_request *req, const char *key,
                               const char *value);

/*
 * Tool calling, written once in OpenAI's shape and translated by each
 * provider.  Setters check that the text is JSON of the right kind and
 * return LR_E_INVALID_ARG otherwise.
 *   tools:       [{"type":"function","function":{"name","description",
 *                  "parameters":<JSON Schema>}}, ...]
 *   tool_choice: "auto", "none", "required", or
 *                {"type":"function","function":{"name":"..."}}
 *   tool_calls:  [{"id","type":"function","function":{"name",
 *                  "arguments":"<JSON text>"}}, ...]
 */
LR_API int lr_request_set_tools_json(struct lr_request *req,
                                     const char *tools_json);
LR_API int lr_request_set_tool_choice_json(struct lr_request *req,
                                           const char *choice_json);
/* An assistant turn that called tools (text may be NULL). */
LR_API int lr_request_add_tool_calls(struct lr_request *req,
                                     const char *text,
                                     const char *tool_calls_json);
/* The result of one tool call, answering tool_call_id; name is the
   function's name (some providers need it; may be NULL). */
LR_API int lr_request_add_tool_result(struct lr_request *req,
                                      const char *tool_call_id,
                                      const char *name,
                                      const char *content);

/* --- Responses --------------------------------------------------------- */

struct lr_response;

/* One attempt of a request, as in the attempt trail. Strings belong to
   the response.  Fields are only ever appended (see
   lr_response_attempt_sized()). */
struct lr_attempt_info {
    const char *target;
    long http_status;          /* 0: no HTTP response */
    enum lr_status error;      /* LR_OK for the answering attempt */
    int64_t retry_after_ms;    /* -1: no hint */
    int64_t waited_ms;         /* time waited before this attempt */
    int64_t latency_ms;        /* 0 when skipped */
    const char *skipped;       /* "policy: reason" when skipped, else NULL */
    const char *wait_reason;   /* why it waited, or NULL */
    /* Added after 0.1.0: why the next target was tried after this attempt
       ("rate_limited", "server_error", ... as "fallback_reason" in the
       JSON trail), or NULL when it was not. */
    const char *fallback_reason;
};

/* LR_OK when an answer arrived; otherwise the error class. */
LR_API enum lr_status lr_response_status(const struct lr_response *resp);
/* Request id assigned by the router (unique per router). */
LR_API uint64_t lr_response_id(const struct lr_response *resp);
/* Visible answer text ("" on error). */
LR_API const char *lr_response_text(const struct lr_response *resp);
/* "stop", "length", "tool_calls", "content_filter", "other", "error". */
LR_API const char *lr_response_finish_reason(const struct lr_response *r);
/* Target that answered, its provider and the model it reported; NULL on
   error. */
LR_API const char *lr_response_target(const struct lr_response *resp);
LR_API const char *lr_response_provider(const struct lr_response *resp);
LR_API const char *lr_response_model(const struct lr_response *resp);
/* Tier chosen by a routing policy, or NULL. */
LR_API const char *lr_response_tier(const struct lr_response *resp);
/* Name of the policy that answered without calling a target (a cache
   hit), or NULL when a target answered or the request failed. */
LR_API const char *lr_response_served_by(const struct lr_response *resp);
LR_API int64_t lr_response_prompt_tokens(const struct lr_response *resp);
LR_API int64_t lr_response_completion_tokens(
    const struct lr_response *resp);
/* Prompt tokens served from the provider's cache (included in the prompt
   count), and reasoning tokens (included in the completion count). */
LR_API int64_t lr_response_cached_tokens(const struct lr_response *resp);
LR_API int64_t lr_response_reasoning_tokens(
    const struct lr_response *resp);
LR_API double lr_response_cost_usd(const struct lr_response *resp);
LR_API int64_t lr_response_latency_ms(const struct lr_response *resp);
/* Tool calls the model made, as an OpenAI-shaped JSON array (see
   lr_request_set_tools_json), or NULL when it made none. */
LR_API const char *lr_response_tool_calls_json(const struct lr_response *r);
/* Error message (the provider's own words when it gave some), "" on
   success. */
LR_API const char *lr_response_error_message(const struct lr_response *r);
/* Retry hint for the caller after a failure, -1 when none. */
LR_API int64_t lr_response_retry_after_ms(const struct lr_response *resp);
LR_API size_t lr_response_attempt_count(const struct lr_response *resp);
/*
 * Fills *out with attempt i; LR_E_INVALID_ARG when out of range.
 * out_size is sizeof *out as the caller was compiled: only the fields
 * that fit are written, so a program built against an older, shorter
 * struct lr_attempt_info keeps working with a newer library.  Less than
 * the first version's size (up to wait_reason) is LR_E_INVALID_ARG.
 */
LR_API int lr_response_attempt_sized(const struct lr_response *resp,
                                     size_t i, struct lr_attempt_info *out,
                                     size_t out_size);
/* The same for the struct as it was before fallback_reason (programs
   built against older headers call this symbol).  Source compiled
   against this header reaches lr_response_attempt_sized() through the
   macro below, with its own sizeof, so every field is filled. */
LR_API int lr_response_attempt(const struct lr_response *resp, size_t i,
                               struct lr_attempt_info *out);
#define lr_response_attempt(resp, i, out)                                 \
    lr_response_attempt_sized((resp), (i), (out), sizeof *(out))
/* The response as one JSON object (the CLI's --json shape); caller frees
   with lr_free().  NULL on out-of-memory. */
LR_API char *lr_response_json(const struct lr_response *resp);
LR_API void lr_response_free(struct lr_response *resp);

/* --- Calls ------------------------------------------------------------- */

/*
 * Blocking completion.  The request is copied; it may be freed or reused
 * at once.  Returns the status and stores a response in *out (always,
 * unless out of memory or bad arguments: then *out is NULL), which the
 * caller frees.
 */
LR_API int lr_complete(struct lr_router *r, const struct lr_request *req,
                       struct lr_response **out);

/* Delta callback: len bytes of new visible text (not NUL-terminated).
   Return 0 to continue, nonzero to cancel the request. */
typedef int (*lr_delta_fn)(const char *text, size_t len, void *user);

/* Called from inside an lr_delta_fn: the model of the attempt whose text
   is being delivered, the one lr_response_model() will report if it
   answers (the model the upstream names, else the target's configured
   one); NULL outside a delta callback or when unknown (an answer from
   a policy, e.g. a cache hit, may have none).  Valid until the callback
   returns: copy it to keep it.  Added after 0.1.0. */
LR_API const char *lr_delta_model(void);

/* Blocking streamed completion: on_delta is called on the calling thread
   for each piece of text, then the call returns as lr_complete() does,
   the full text included in the response. */
LR_API int lr_stream(struct lr_router *r, const struct lr_request *req,
                     lr_delta_fn on_delta, void *user,
                     struct lr_response **out);

/* Completion callback of lr_submit: resp becomes the callee's (free it
   with lr_response_free()). */
typedef void (*lr_done_fn)(struct lr_response *resp, void *user);

/*
 * Asynchronous call.  on_delta may be NULL (then the attempt is not
 * streamed).  on_done is called exactly once, on the engine thread, unless
 * this returns 0.  The request is copied.  Returns the request id (> 0),
 * or 0 on bad arguments / out of memory / router closing (on_done is then
 * not called).
 */
LR_API uint64_t lr_submit(struct lr_router *r, const struct lr_request *req,
                          lr_delta_fn on_delta, lr_done_fn on_done,
                          void *user);

/* Cancel request id: if it is still in flight it completes with
   LR_E_CANCELLED (its callback fires as usual); if it already completed,
   nothing happens.  Returns LR_OK, or LR_E_NOT_FOUND for an id this
   router never issued. */
LR_API int lr_cancel(struct lr_router *r, uint64_t id);

/*
 * Share the engine thread with an event source of the application's (an
 * HTTP server's epoll fd, say), so that a request and its answer never
 * cross threads: fn(user) runs on the engine thread, the thread that runs
 * lr_submit() requests and their callbacks, whenever fd is readable
 * (level-triggered), once soon after this call, and when the time it
 * last asked for has come.  fn returns the milliseconds (by the router's
 * clock) until it wants to run again even if fd stays quiet, or a
 * negative number for "only when fd is readable".  fn may call
 * lr_submit(), lr_cancel(), lr_watch_fd(), lr_watch_wake() and
 * lr_unwatch_fd(); it must
 * not block, nor call lr_complete(), lr_stream() or lr_close().
 * Returns LR_OK, LR_E_INVALID_ARG (fd < 0, fn NULL, fd already watched
 * or not pollable) or LR_E_NOMEM.  lr_close() ends every watch without
 * calling fn again.
 */
typedef int64_t (*lr_watch_fn)(void *user);
LR_API int lr_watch_fd(struct lr_router *r, int fd, lr_watch_fn fn,
                       void *user);

/* Run the fn of the watch on fd at the loop's next turn, even if fd is
   quiet (for a server that must be driven after it was told something
   from outside its own callbacks, such as a resumed connection).  From
   the engine thread it costs no system call.  LR_OK, or LR_E_NOT_FOUND
   when fd is not watched. */
LR_API int lr_watch_wake(struct lr_router *r, int fd);

/* Stop watching fd.  From another thread it returns once fn is not
   running and will not run again; from a watch's fn it takes effect at
   once.  LR_OK, or LR_E_NOT_FOUND when fd is not watched. */
LR_API int lr_unwatch_fd(struct lr_router *r, int fd);

/* --- Introspection ------------------------------------------------------ */

/*
 * A snapshot of the router's metrics as one JSON object; caller frees
 * (lr_free()).  NULL when out of memory.  Shape:
 *
 *   {"requests": N, "success_rate": 0..1, "cost_usd": X,
 *    "latency_ms": LAT,                     every finished request
 *    "targets": [{"target": "a", "attempts": N,
 *                 "attempt_success_rate": 0..1, "requests_answered": N,
 *                 "latency_ms": LAT,        requests it answered or
 *                                           last failed on
 *                 "prompt_tokens": N, "completion_tokens": N,
 *                 "cost_usd": X}, ...],
 *    "counters": {"name": X, "name2": {"label": X, ...}, ...},
 *    "gauges":   same shape as counters}
 *
 *   LAT = {"p50": ms, "p95": ms, "p99": ms, "count": N, "sum": ms,
 *          "buckets": [24 counts]}
 *
 * buckets[i] counts requests that took more than 2^(i-1) ms and at most
 * 2^i ms (bucket 0: up to 1 ms); the last bucket also holds everything
 * slower than 2^22 ms.  Counts are not cumulative; count is their sum and
 * sum the total latency in ms.  The percentiles are the upper edge of the
 * bucket they fall in (never under-reported).  A request a policy
 * answered (a cache hit) counts only in the top-level LAT.
 *
 * A counter or gauge name maps to a number when it has no label and to
 * an object of labels when it has; a name used both ways keeps its
 * unlabelled value under the label "".  Counters only grow; gauges hold
 * the last value a plugin set (e.g. breaker_state{SECTION/TARGET}:
 * 0 closed, 1 half-open, 2 open; budget_period_spend_usd{SECTION/daily|
 * SECTION/monthly}, SECTION naming the budget_guard instance), as this
 * process last saw it.
 */
LR_API char *lr_metrics_json(struct lr_router *r);
/* Resolved configuration (pipeline, targets, store) as JSON, secrets
   omitted; caller frees (lr_free()). */
LR_API char *lr_router_describe_json(struct lr_router *r);
/* How the pipeline would classify req, without sending anything: the JSON
   object {"tier", "score", "features": {...}} of the first policy that can
   explain its routing (the complexity router).  NULL with a reason in err
   when no policy can, or on bad input; caller frees (lr_free()).  Safe
   from any thread. */
LR_API char *lr_classify_json(struct lr_router *r,
                              const struct lr_request *req, char *err,
                              size_t errlen);

/* One plugin file found by lr_plugin_scan(). Strings valid during the
   callback only. */
struct lr_plugin_info {
    const char *path;
    const char *name;      /* NULL when broken */
    const char *kind;      /* "provider" | "policy" | "store", NULL when
                              broken */
    const char *version;
    int abi_major, abi_minor;
    const char *error;     /* NULL when it loads, else the reason */
};

typedef void (*lr_plugin_info_fn)(const struct lr_plugin_info *info,
                                  void *user);

/* Load every *.so in dir (sorted by name), report each through fn, and
   unload them.  Returns the number of broken files, or -1 when dir
   cannot be read (err filled). */
LR_API int lr_plugin_scan(const char *dir, lr_plugin_info_fn fn, void *user,
                          char *err, size_t errlen);

/* The plugin folder an INI file names (resolved against the file's
   folder; without plugin_dir: $LLMROUTE_PLUGIN_DIR, else the installed
   plugin folder), without loading anything else, so a config with a broken
   plugin can still be inspected.  LR_OK, or an error with "FILE:LINE:
   message" in err. */
LR_API int lr_config_plugin_dir(const char *ini_path, char *out,
                                size_t outlen, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* LLMROUTE_H */
