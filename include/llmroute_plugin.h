/*
 * llmroute_plugin.h - the plugin ABI of llmroute.
 *
 * A plugin is a shared object that exports exactly one symbol,
 * lr_plugin_entry(), returning a pointer to a constant descriptor.  The
 * core checks the descriptor's ABI numbers and size before it touches
 * anything else, then calls create() once per INI section that names the
 * plugin.  Everything a plugin needs from the core (logging, the clock,
 * the key/value store, metrics, config values, output buffers) comes
 * through the const struct lr_host table handed to create(), so a plugin
 * links nothing from the core and builds with -Wl,--no-undefined.
 *
 * Three kinds of plugin exist:
 *   provider - a pure translator between llmroute's request/response model
 *              and one HTTP wire format.  It never does I/O, never sleeps
 *              and never reads the clock for waiting: the core owns the
 *              transport, SSE framing included.
 *   policy   - a small pipeline stage (router, breaker, budget, retry,
 *              limits, cache, ...) called by the core at fixed points of a
 *              request's life.  Hooks run on the engine thread, one at a
 *              time, so a policy needs no locks for its own state.
 *   store    - (1.4) a key/value backend for the state policies keep
 *              (spend, rate windows, breaker state, cached answers),
 *              chosen by "store = NAME:ARG" in [router].  The built-in
 *              store is "memory"; "sqlite" is a plugin, so a process
 *              that does not use it never loads SQLite.
 *
 * Versioning: LR_PLUGIN_ABI_MAJOR changes only when an existing field or
 * its meaning changes; the core refuses any other major.  Minor versions
 * only append fields at the end of structs; a plugin built for a newer
 * minor than the core is refused (it might call host functions the core
 * lacks).  A core reads fields added in minor N only when the plugin's
 * abi_minor >= N.  Fields marked "(1.1)" were added in minor 1: request
 * attributes, request rejection and answering from a policy, the
 * providers' rate-limit readings, policy-declared target keys and the
 * classify op.  Minor 2 appends one host function, gauge_set ("(1.2)").
 * Minor 3 appends sampling parameters and the response format to struct
 * lr_chat ("(1.3)"); a provider built for an older minor never sees
 * them, so the core does not send a request with a response format to
 * it (the target is skipped, see struct lr_chat).  Minor 4 adds the store
 * kind (struct lr_store_ops, "(1.4)").  A plugin built for an older minor
 * loads unchanged: the core's table only grows at the end.
 *
 * Ownership, unless a declaration says otherwise: pointers passed into a
 * plugin are borrowed for the duration of the call; output goes into
 * core-owned struct lr_buf objects through host->buf_* functions, so no
 * memory is ever freed across allocators; the plugin owns its instance
 * from create() until the core calls destroy().
 *
 * This header uses only standard C headers.
 */
#ifndef LLMROUTE_PLUGIN_H
#define LLMROUTE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LR_PLUGIN_ABI_MAJOR 1
#define LR_PLUGIN_ABI_MINOR 4

#if defined(__GNUC__)
#define LR_PLUGIN_EXPORT __attribute__((visibility("default")))
#define LR_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define LR_PLUGIN_EXPORT
#define LR_PRINTF(fmt, args)
#endif

/* --- Status and error classes (identical block in llmroute.h) ------- */
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

enum lr_plugin_kind {
    LR_PLUGIN_PROVIDER = 1,
    LR_PLUGIN_POLICY = 2,
    LR_PLUGIN_STORE = 3         /* (1.4) */
};

enum lr_log_level {
    LR_LOG_ERROR = 0,
    LR_LOG_WARN = 1,
    LR_LOG_INFO = 2,
    LR_LOG_DEBUG = 3
};

/* --- Buffers ------------------------------------------------------------ */

/*
 * A growable byte buffer owned by the core.  data is NUL-terminated after
 * every host->buf_* call (the NUL is not counted in len).  A plugin reads
 * data/len freely and writes only through host->buf_* functions.
 */
struct lr_buf {
    char *data;
    size_t len;
    size_t cap;
};

/* --- Configuration -------------------------------------------------- */

enum lr_cfg_type {
    LR_CFG_STRING = 1,
    LR_CFG_INT = 2,      /* 64-bit signed, decimal */
    LR_CFG_DOUBLE = 3,
    LR_CFG_BOOL = 4,     /* true/false, yes/no, on/off, 1/0 */
    LR_CFG_LIST = 5      /* comma-separated names, whitespace trimmed */
};

/*
 * One key a plugin accepts in its INI section.  The core rejects keys not
 * in the table and values that do not parse as the type, each with
 * FILE:LINE, before create() is called.  def is the textual default (NULL:
 * no default; the getter reports "absent").
 */
struct lr_cfg_key {
    const char *key;
    enum lr_cfg_type type;
    const char *def;
    const char *help;
};

/* An INI section as the core validated it; opaque, read with host->cfg_*. */
struct lr_section;

/* --- The request model providers and policies see ------------------- */

enum lr_role {
    LR_ROLE_SYSTEM = 0,
    LR_ROLE_USER = 1,
    LR_ROLE_ASSISTANT = 2,
    LR_ROLE_TOOL = 3
};

/* One conversation turn.  Strings are NUL-terminated UTF-8. */
struct lr_message {
    enum lr_role role;
    const char *content;         /* may be NULL for a tool-calls-only turn */
    const char *tool_calls_json; /* assistant: OpenAI-shaped tool_calls array,
                                    or NULL */
    const char *tool_call_id;    /* tool: the call this answers, or NULL */
    const char *name;            /* tool: function name, or NULL */
};

/* A chat request, normalised across providers.  Borrowed for the call. */
struct lr_chat {
    const char *system;                /* system prompt or NULL */
    const struct lr_message *messages; /* never includes system turns */
    size_t n_messages;
    int64_t max_tokens;                /* 0: not set by the caller */
    double temperature;                /* valid when has_temperature */
    int has_temperature;
    const char *const *stop;           /* stop sequences */
    size_t n_stop;
    int stream;                        /* nonzero: streamed attempt */
    const char *user;                  /* end-user id or NULL */
    const char *tools_json;            /* OpenAI-shaped tools array or NULL */
    const char *tool_choice_json;      /* OpenAI-shaped tool_choice or NULL */
    /* (1.3) Sampling hints: a provider whose API lacks one leaves it out
       (and says so in its docs); they change how an answer is sampled,
       not what shape it has. */
    double top_p;                      /* (0, 1], valid when has_top_p */
    int has_top_p;
    int has_seed;
    int64_t seed;                      /* valid when has_seed */
    double presence_penalty;           /* [-2, 2], valid when has_... */
    double frequency_penalty;          /* [-2, 2], valid when has_... */
    int has_presence_penalty;
    int has_frequency_penalty;
    /* (1.3) OpenAI-shaped response_format, {"type":"json_object"} or
       {"type":"json_schema","json_schema":{"name":...,"schema":{...},
       "strict":...}}; NULL for plain text.  Unlike the hints, a provider
       that cannot honour it must fail build_request (the core then tries
       the next target) rather than drop it: the caller parses the
       answer. */
    const char *response_format_json;
};

/* The target an attempt goes to, as resolved by the core. */
struct lr_target_info {
    const char *name;        /* INI section name, e.g. "gpt-mini" */
    const char *model;
    const char *base_url;    /* never NULL: INI value or provider default,
                                without a trailing slash */
    const char *api_key;     /* secret: never log it; "" when none */
    const struct lr_section *section; /* the [target] section */
};

/* --- HTTP exchange built and read by providers -------------------------- */

/*
 * Filled by provider.build_request().  The core has initialised every
 * buffer empty.  headers holds "Name: value" lines separated by '\n'.
 * method NULL means POST.
 */
struct lr_http_request {
    const char *method;
    struct lr_buf url;
    struct lr_buf headers;
    struct lr_buf body;
};

struct lr_header {
    const char *name;  /* lower-case */
    const char *value; /* trimmed */
};

/* An upstream HTTP response, borrowed for the parse call. */
struct lr_http_response {
    long status;
    const struct lr_header *headers;
    size_t n_headers;
    const char *body;  /* NUL-terminated, may contain NULs before body_len */
    size_t body_len;
};

enum lr_finish {
    LR_FINISH_NONE = 0,   /* not known (yet) */
    LR_FINISH_STOP = 1,
    LR_FINISH_LENGTH = 2,
    LR_FINISH_TOOL_CALLS = 3,
    LR_FINISH_CONTENT_FILTER = 4,
    LR_FINISH_OTHER = 5,
    LR_FINISH_ERROR = 6
};

/*
 * What a provider extracts from a response (or accumulates over a
 * stream).  Before the first parse call the core empties the buffers,
 * sets error LR_OK, finish LR_FINISH_NONE, cached/reasoning tokens 0, and
 * retry_after_ms, prompt_tokens and completion_tokens -1 ("unknown").  For an error, set error to the class, put the
 * provider's own message in error_message and any provider-specific retry
 * hint (e.g. a Gemini RetryInfo, OpenAI x-ratelimit-reset-*) in
 * retry_after_ms (-1: none).  The core applies the generic headers
 * retry-after-ms, retry-after and x-should-retry itself, which win over
 * the provider's hint, so a provider need not read them.
 */
struct lr_result {
    enum lr_status error;        /* LR_OK for an answer */
    struct lr_buf error_message;
    int64_t retry_after_ms;      /* -1: no hint */
    struct lr_buf text;          /* visible answer text */
    struct lr_buf tool_calls_json; /* OpenAI-shaped tool_calls array or "" */
    struct lr_buf model;         /* model name the provider reported */
    struct lr_buf request_id;    /* provider request id, for logs */
    enum lr_finish finish;
    int64_t prompt_tokens;       /* -1: unknown */
    int64_t completion_tokens;   /* -1: unknown */
    int64_t cached_tokens;
    int64_t reasoning_tokens;
    /* (1.1) Rate-limit state the provider reported with this response
       (OpenAI x-ratelimit-*, Anthropic anthropic-ratelimit-*): requests
       and tokens left in the current window and ms until each window
       resets.  The core sets them to -1 ("not reported"). */
    int64_t rl_remaining_requests;
    int64_t rl_remaining_tokens;
    int64_t rl_reset_requests_ms;
    int64_t rl_reset_tokens_ms;
};

/* One SSE event as framed by the core. */
struct lr_sse_event {
    const char *event;  /* "event:" field or "" */
    const char *data;   /* joined "data:" lines, NUL-terminated */
    size_t data_len;
};

/* Return values of provider_ops.stream_event, besides LR_OK. */
#define LR_STREAM_DONE 1   /* the provider saw its end-of-stream marker */

struct lr_host; /* below */

/*
 * A provider's operations.  Mandatory: build_request, parse_response.
 * Streaming support needs stream_event (stream_begin/stream_end optional).
 */
struct lr_provider_ops {
    /* Public endpoint used when the target has no base_url. */
    const char *default_base_url;
    /* Keys accepted in a [target] section besides the core's own. */
    const struct lr_cfg_key *target_keys;
    size_t n_target_keys;

    /* Translate a chat into an HTTP request.  err: short reason. */
    int (*build_request)(void *inst, const struct lr_target_info *target,
                         const struct lr_chat *chat,
                         struct lr_http_request *out,
                         char *err, size_t errlen);

    /* Translate a whole (non-streamed, or failed streamed) response,
       success or error, into out.  Returns LR_OK when out was filled
       (out->error tells which); anything else means the body could not be
       understood at all and the core classifies by status alone. */
    int (*parse_response)(void *inst, const struct lr_target_info *target,
                          const struct lr_http_response *in,
                          struct lr_result *out);

    /* Per-stream state: stream_begin allocates it (may be NULL if not
       needed), stream_end frees it. */
    int (*stream_begin)(void *inst, void **state);
    /* One SSE event of a 2xx stream.  Append visible text to delta (the
       core adds it to acc->text and hands it to the caller), update acc's
       usage/finish/tool calls.  Return LR_OK, LR_STREAM_DONE, or set
       acc->error for an in-stream error and return LR_OK. */
    int (*stream_event)(void *inst, void *state,
                        const struct lr_sse_event *ev,
                        struct lr_result *acc, struct lr_buf *delta);
    void (*stream_end)(void *inst, void *state);
};

/* --- Policies (called on the engine thread) ------------------------- */

/*
 * A request as a policy sees it: borrowed, read-only except via host.
 * Policies talk to each other and to the core through string attributes
 * on the request (host->req_get/req_set).  Well-known attributes:
 *   "tier"       set by a routing policy to the tier it chose; the core
 *                reports it as the response's tier.
 *   "tier_want"  set by the caller (lr_request_set_attr, the gateway's
 *                model name) to ask a routing policy for that tier.
 *   "tier_cap"   the highest tier a routing policy may pick (e.g. set
 *                by a budget that is running low).
 * Names without a '.' are reserved for the core's well-known ones; a
 * policy's private attributes are "plugin.name".
 */
struct lr_policy_req {
    uint64_t id;
    const struct lr_chat *chat;
    const char *user;             /* end-user id or NULL */
    const char *conversation;     /* (1.1) conversation id or NULL */
    int cache_bypass;             /* (1.1) caller asked for a fresh answer */
};

/* One attempt as a policy sees it. */
struct lr_policy_attempt {
    const char *target;           /* target name */
    int index;                    /* 0-based attempt number in the request */
    int tries_on_target;          /* attempts already made on this target */
    long http_status;             /* 0 when no response */
    enum lr_status error;         /* LR_OK on success */
    int64_t retry_after_ms;       /* -1: no hint */
    int should_retry;             /* x-should-retry: -1 absent, 0, 1 */
    int delivered;                /* nonzero: text already reached the
                                     caller (a retry cannot be spliced) */
    int64_t prompt_tokens, completion_tokens;
    double cost_usd;
    int64_t latency_ms;
    /* (1.1) */
    const char *key_id;           /* the pool key the attempt uses, as
                                     "VAR#fingerprint" (no secret); ""
                                     when the target has one key or none */
    int64_t est_prompt_tokens;    /* the core's estimate of the prompt, in
                                     tokens (about 4 bytes a token) */
    int64_t max_tokens;           /* completion cap sent: the request's,
                                     else the target's max_tokens; 0:
                                     none set */
    int candidates_left;          /* candidates after this one */
    /* after_attempt only (else -1): the provider's rate-limit readings,
       as in struct lr_result. */
    int64_t rl_remaining_requests;
    int64_t rl_remaining_tokens;
    int64_t rl_reset_requests_ms;
    int64_t rl_reset_tokens_ms;
};

enum lr_verdict {
    LR_GO = 0,      /* proceed */
    LR_SKIP = 1,    /* skip this target; reason names why */
    LR_WAIT = 2     /* ask again after *wait_ms */
};

enum lr_next {
    LR_NEXT_DEFAULT = 0, /* no opinion: core rule */
    LR_NEXT_TARGET = 1,  /* move on to the next candidate */
    LR_NEXT_RETRY = 2,   /* retry the same target after *delay_ms */
    LR_NEXT_STOP = 3     /* give up with this outcome */
};

/* The candidate list, edited in route() through host->cand_* calls. */
struct lr_candidates;

/*
 * A policy's hooks; each may be NULL.  Hooks receive a per-request scratch
 * pointer (*req_state) they may set in on_request and must free in
 * on_complete, which is always called once on_request ran.
 */
struct lr_policy_ops {
    const struct lr_cfg_key *keys;   /* keys of [policy NAME] */
    size_t n_keys;

    /* Reject with a status (and msg) or return LR_OK. */
    int (*on_request)(void *inst, const struct lr_policy_req *req,
                      void **req_state, char *msg, size_t msglen,
                      int64_t *retry_after_ms);
    /* Reorder, add or remove candidate targets. */
    int (*route)(void *inst, const struct lr_policy_req *req,
                 void *req_state, struct lr_candidates *cands);
    enum lr_verdict (*before_attempt)(void *inst,
                                      const struct lr_policy_req *req,
                                      void *req_state,
                                      const struct lr_policy_attempt *a,
                                      int64_t *wait_ms,
                                      char *reason, size_t reasonlen);
    /* Called for every attempt that got an outcome, successes included,
       on every policy in pipeline order: the first answer other than
       LR_NEXT_DEFAULT decides, later policies still observe (their
       answer is ignored); on success the answer is ignored. */
    enum lr_next (*after_attempt)(void *inst,
                                  const struct lr_policy_req *req,
                                  void *req_state,
                                  const struct lr_policy_attempt *a,
                                  int64_t *delay_ms,
                                  char *reason, size_t reasonlen);
    void (*on_complete)(void *inst, const struct lr_policy_req *req,
                        void *req_state,
                        const struct lr_policy_attempt *final_attempt);

    /* (1.1) Keys this policy reads from [target] sections (e.g. rpm).
       The core accepts them in every target when this policy is in the
       pipeline, validates their types, and refuses them otherwise. */
    const struct lr_cfg_key *target_keys;
    size_t n_target_keys;
    /* (1.1) Explain, with no side effect, how this policy would route
       req: append one JSON object {"tier": "...", "score": N,
       "features": {...}} to json.  Return LR_E_NOT_FOUND when the policy
       has no such opinion.  Unlike the other hooks it may run on any
       thread at the same time as them: read only the instance's
       configuration and the store. */
    int (*classify)(void *inst, const struct lr_policy_req *req,
                    struct lr_buf *json);
    /* (1.1) Check one [target] section's values of this policy's
       target_keys (ranges; the core checked types).  Called at load,
       after create(), once per target.  Return non-LR_OK with "KEY:
       message" in err to refuse the configuration: the core reports it
       at that key's FILE:LINE. */
    int (*check_target)(void *inst, const struct lr_section *target,
                        char *err, size_t errlen);
};

/* --- Store plugins (1.4) ------------------------------------------------ */

/*
 * A store is named in [router] as "store = NAME:ARG": the core loads
 * PLUGIN_DIR/NAME.so, checks that it is a store called NAME, and calls
 * open() with ARG, everything after the first ':' ("sqlite:state.db"
 * gives "state.db", "redis://h:6379" gives "//h:6379").  One store
 * serves the whole router; the core namespaces the keys policies use.
 * A store's descriptor leaves create and destroy NULL: open and close
 * below take their place.  The spec is shown as written in errors, in
 * lr_router_describe_json() and by `llmroute check`, so a store that
 * needs a secret (a password) reads it from the environment, never from
 * ARG.
 *
 * Semantics every store keeps (policies rely on each of them):
 *  - TTLs are read against host->wall_ms (wall time, so a persistent
 *    store means the same after a restart); ttl_ms 0 means no expiry;
 *    an expired key behaves exactly like a missing one.
 *  - get appends the value to out (host->buf_append) and returns LR_OK,
 *    or returns LR_E_NOT_FOUND.
 *  - incr on a missing key starts from 0; on a value that is not a
 *    decimal integer (an optional '-' then digits, fitting in int64_t,
 *    nothing else) it is LR_E_INVALID_ARG.  Its ttl_ms applies only when
 *    the key is created, so a window's counter expires at the end of the
 *    window however often it is incremented.  An int64_t overflow is
 *    LR_E_INVALID_ARG and leaves the value alone.  *out (out may be
 *    NULL) gets the value after the increment.
 *  - set and cas write the value and its expiry together: ttl_ms 0
 *    there clears an earlier TTL, as Redis SET does.
 *  - cas sets only if the current value equals expect byte for byte;
 *    expect NULL means "only if missing".  LR_OK when it set the value,
 *    LR_STORE_CAS_MISMATCH (below) when it did not.
 *  - del returns LR_OK whether or not the key existed.
 *  - A negative ttl_ms is LR_E_INVALID_ARG; LR_E_NOMEM and any failure
 *    leave the store as it was; a backend fault (a lock held too long,
 *    a full disk, a lost connection) is LR_E_INTERNAL.
 *  - Every function except open and close may be called from any
 *    thread at the same time: the store does its own locking.
 * The core has already refused a NULL key, a NULL value with a nonzero
 * length and keys longer than it allows, so a store need not check.
 *
 * The host handed to open() serves the store for its life.  A store may
 * use log, now_ms, wall_ms, the buf_* functions, counter_add and
 * gauge_set; every other member of a store's host is NULL.
 */
struct lr_store_ops {
    /* 1 when ARG is a file path: the core makes a relative one relative
       to the INI file's folder, like every path in it, before open(). */
    int arg_is_path;
    /* Open or connect; on failure return non-LR_OK and a reason in err
       (the core prefixes the spec).  */
    int (*open)(const char *arg, const struct lr_host *host, void **inst,
                char *err, size_t errlen);
    void (*close)(void *inst);
    int (*get)(void *inst, const char *key, struct lr_buf *out);
    int (*set)(void *inst, const char *key, const void *val, size_t len,
               int64_t ttl_ms);
    int (*incr)(void *inst, const char *key, int64_t delta, int64_t ttl_ms,
                int64_t *out);
    int (*cas)(void *inst, const char *key, const void *expect,
               size_t expect_len, const void *val, size_t len,
               int64_t ttl_ms);
    int (*del)(void *inst, const char *key);
};

/* --- The host table ---------------------------------------------------- */

/* store_cas result when the current value is not the expected one. */
#define LR_STORE_CAS_MISMATCH 1

/*
 * Functions the core offers to plugins.  Append-only across minors;
 * check struct_size before using a field added after 1.0.
 * Every function is safe to call from any hook.  Store keys are
 * namespaced by the core (per plugin instance) unless they start with
 * '/', which names the shared namespace (e.g. "/cooldown/<target>").
 */
struct lr_host {
    uint32_t struct_size;
    uint16_t abi_major, abi_minor;

    void (*log)(const struct lr_host *h, enum lr_log_level level,
                const char *fmt, ...) LR_PRINTF(3, 4);

    /* Injected clock: monotonic ms (for intervals) and Unix epoch ms. */
    int64_t (*now_ms)(const struct lr_host *h);
    int64_t (*wall_ms)(const struct lr_host *h);

    /* Config getters on a validated section: return LR_OK and the value,
       the default if absent, or LR_E_NOT_FOUND when absent without
       default.  cfg_list returns a newly counted list view (items point
       into core memory valid for the section's life). */
    int (*cfg_str)(const struct lr_section *s, const char *key,
                   const char **out);
    int (*cfg_int)(const struct lr_section *s, const char *key,
                   int64_t *out);
    int (*cfg_double)(const struct lr_section *s, const char *key,
                      double *out);
    int (*cfg_bool)(const struct lr_section *s, const char *key, int *out);
    int (*cfg_list)(const struct lr_section *s, const char *key,
                    const char *const **items, size_t *n);
    const char *(*section_name)(const struct lr_section *s);
    /* The [target NAME] section, or NULL when no such target exists;
       lets a policy read e.g. a target's rpm or prices. */
    const struct lr_section *(*target_section)(const struct lr_host *h,
                                               const char *name);

    /* Output buffers (core allocator). */
    int (*buf_append)(struct lr_buf *b, const void *data, size_t len);
    int (*buf_printf)(struct lr_buf *b, const char *fmt, ...)
        LR_PRINTF(2, 3);
    void (*buf_reset)(struct lr_buf *b);
    /* Release a buffer's memory (for buffers a plugin keeps in its own
       state); the buffer is empty and reusable afterwards. */
    void (*buf_free)(struct lr_buf *b);

    /* Key/value store with TTLs (ttl_ms 0: no expiry). */
    int (*store_get)(const struct lr_host *h, const char *key,
                     struct lr_buf *out);
    int (*store_set)(const struct lr_host *h, const char *key,
                     const void *val, size_t len, int64_t ttl_ms);
    int (*store_incr)(const struct lr_host *h, const char *key,
                      int64_t delta, int64_t ttl_ms, int64_t *out);
    int (*store_cas)(const struct lr_host *h, const char *key,
                     const void *expect, size_t expect_len,
                     const void *val, size_t len, int64_t ttl_ms);
    int (*store_del)(const struct lr_host *h, const char *key);

    /* Metrics: add v to counter name{label} (label may be NULL). */
    void (*counter_add)(const struct lr_host *h, const char *name,
                        const char *label, double v);

    /* Retry-hint parsing shared by providers.  Durations: Go syntax
       ("1m12.5s", "20ms") and proto ("37s", "0.250s").  Times: RFC 3339
       or HTTP-date, as Unix epoch ms. */
    int (*parse_duration_ms)(const char *text, int64_t *out);
    int (*parse_time_ms)(const char *text, int64_t *out);

    /* Candidate list editing (policy route()). */
    size_t (*cand_count)(const struct lr_candidates *c);
    const char *(*cand_get)(const struct lr_candidates *c, size_t i);
    int (*cand_set)(struct lr_candidates *c, const char *const *targets,
                    size_t n);

    /* --- (1.1) --- */

    /* Request attributes (see struct lr_policy_req): req_get returns the
       value or NULL, valid until the attribute is set again or the
       request ends; req_set copies (value NULL removes). */
    const char *(*req_get)(const struct lr_host *h,
                           const struct lr_policy_req *req,
                           const char *key);
    int (*req_set)(const struct lr_host *h, const struct lr_policy_req *req,
                   const char *key, const char *value);
    /* From before_attempt or after_attempt: end the request with status
       st (e.g. LR_E_BUDGET_EXCEEDED), message msg and a retry hint for
       the caller (-1: none) once the hook returns; the hook's own answer
       is then ignored.  (From on_request, return the status instead.) */
    int (*req_reject)(const struct lr_host *h,
                      const struct lr_policy_req *req, enum lr_status st,
                      const char *msg, int64_t retry_after_ms);
    /* From on_request: answer the request with res (text, tool calls,
       model, finish, token counts are copied) as if target had answered,
       without any attempt; e.g. a cache hit.  Later policies' on_request,
       route and attempt hooks are not run; on_complete runs for every
       policy whose on_request ran.  A streaming caller gets the text as
       one delta. */
    int (*req_respond)(const struct lr_host *h,
                       const struct lr_policy_req *req, const char *target,
                       const struct lr_result *res);
    /* From on_complete: the answer the caller gets (NULL after a
       failure); error_message and retry hint are not filled. */
    const struct lr_result *(*req_result)(const struct lr_host *h,
                                          const struct lr_policy_req *req);

    /* --- (1.2) --- */

    /* Metrics: set gauge name{label} to v (label may be NULL, e.g. a
       target name), replacing what was there.  For a state or a level a
       policy reads (a breaker's state, a period's spend), where a
       counter of transitions cannot tell the present value.  Gauges are
       per process: with a store shared by processes, a gauge holds what
       this process last saw.  Keep labels few (targets, periods; never
       user ids): every name{label} is kept for the router's life.
       Names live apart from counters' (the same name may be both). */
    void (*gauge_set)(const struct lr_host *h, const char *name,
                      const char *label, double v);
};

/* --- The descriptor ------------------------------------------------------ */

/*
 * Returned by lr_plugin_entry().  Fill the first three fields with
 * LR_PLUGIN_HEADER.  ops points to a struct lr_provider_ops,
 * lr_policy_ops or lr_store_ops according to kind, ops_size to its
 * sizeof.  A store leaves create and destroy NULL (see lr_store_ops).
 *
 * create(section, host, &inst, err, errlen): build one instance from a
 * validated section.  host and section outlive the instance.  On failure
 * return non-LR_OK and write a short reason to err; start it with
 * "KEY: " to have the core point at that key's line.
 */
struct lr_plugin_desc {
    uint16_t abi_major;
    uint16_t abi_minor;
    uint32_t struct_size;
    const char *name;
    enum lr_plugin_kind kind;
    const char *version;
    int (*create)(const struct lr_section *section,
                  const struct lr_host *host, void **inst,
                  char *err, size_t errlen);
    void (*destroy)(void *inst);
    const void *ops;
    uint32_t ops_size;
};

#define LR_PLUGIN_HEADER \
    LR_PLUGIN_ABI_MAJOR, LR_PLUGIN_ABI_MINOR, \
    (uint32_t)sizeof(struct lr_plugin_desc)

typedef const struct lr_plugin_desc *(*lr_plugin_entry_fn)(void);

/* The one symbol a plugin exports (each plugin defines it).  It must do
   nothing but return a pointer to a constant descriptor. */
LR_PLUGIN_EXPORT const struct lr_plugin_desc *lr_plugin_entry(void);
#define LR_PLUGIN_ENTRY_SYMBOL "lr_plugin_entry"

#ifdef __cplusplus
}
#endif

#endif /* LLMROUTE_PLUGIN_H */
