/*
 * response.h - struct lr_response: the outcome of one request, its
 * attempt trail, and its JSON form (the CLI's --json shape, also the
 * request-log line).
 */
#ifndef LR_CORE_RESPONSE_H
#define LR_CORE_RESPONSE_H

#include "llmroute.h"
#include "llmroute_plugin.h"

struct lr_attempt_rec {
    char *target;
    long http_status;
    enum lr_status error;
    int64_t retry_after_ms;
    int64_t waited_ms;
    int64_t latency_ms;
    char *skipped;          /* "policy: reason" or NULL */
    char *wait_reason;      /* or NULL */
    char *fallback_reason;  /* why the next target was tried, or NULL */
    char *key_var;          /* pooled key's variable name, or NULL */
};

struct lr_response {
    uint64_t id;
    enum lr_status status;
    struct lr_buf text;
    struct lr_buf tool_calls_json;
    enum lr_finish finish;
    char *target, *provider, *model, *tier;
    char *served_by;        /* policy that answered (cache hit) or NULL */
    int64_t prompt_tokens, completion_tokens;
    int64_t cached_tokens, reasoning_tokens;
    double cost_usd;
    int64_t latency_ms;
    struct lr_buf error_message;
    int64_t retry_after_ms;
    struct lr_attempt_rec *attempts;
    size_t n_attempts, cap_attempts;
    /* The short strings of a typical answer (target, provider, model,
       tier, the attempts' targets) are copied in here rather than each
       malloc'd: a request costs fewer allocations.  attempts starts at
       attempts_inl.  See lr_response_set_str(). */
    struct lr_attempt_rec attempts_inl[2];
    size_t strs_used;
    char strs[192];
};

struct lr_response *lr_response_new(uint64_t id);
/* Append a zeroed attempt record (retry_after_ms -1); NULL on OOM. */
struct lr_attempt_rec *lr_response_add_attempt(struct lr_response *r,
                                               const char *target);
/* Set *slot (a string field of r or of its attempts) to a copy of s (or
   NULL), in r's own space when it fits, freeing what *slot held;
   LR_OK or LR_E_NOMEM. */
int lr_response_set_str(struct lr_response *r, char **slot, const char *s);
const char *lr_finish_name(enum lr_finish f);
/* JSON of the response; with_text 0 leaves out text (request log). */
char *lr_response_to_json(const struct lr_response *r, int with_text);

#endif
