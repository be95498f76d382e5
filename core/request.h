/*
 * request.h - struct lr_request (the public request builder) and its view
 * as the struct lr_chat plugins see.
 */
#ifndef LR_CORE_REQUEST_H
#define LR_CORE_REQUEST_H

#include "llmroute.h"
#include "llmroute_plugin.h"

#include "attrs.h"

struct lr_request {
    char *system;
    struct lr_message *msgs;     /* strings owned */
    size_t n_msgs, cap_msgs;
    int64_t max_tokens;
    double temperature;
    int has_temperature;
    char **stop;
    size_t n_stop;
    char *user;
    int64_t timeout_ms;          /* 0: router default */
    char *target;                /* forced target or NULL */
    char *tools_json;
    char *tool_choice_json;
    double top_p;                /* valid when has_top_p */
    int has_top_p;
    int has_seed;
    int64_t seed;
    double presence_penalty, frequency_penalty;
    int has_presence_penalty, has_frequency_penalty;
    char *response_format_json;  /* normalised; NULL: plain text */
    char *conversation;          /* conversation id or NULL */
    int cache_bypass;
    struct lr_attrs attrs;       /* policy-visible attributes */
};

/* Deep copy; NULL on out-of-memory. */
struct lr_request *lr_request_clone(const struct lr_request *req);
/* A blocking call's request: *view shares src's strings and messages
   (src is the caller's, unchanged until the call returns) and owns only a
   copy of the attributes, the one part policies write.  LR_OK or
   LR_E_NOMEM; lr_request_view_free() releases what it owns. */
int lr_request_view(struct lr_request *view, const struct lr_request *src);
void lr_request_view_free(struct lr_request *view);
/* A chat view of req (pointers into req). */
void lr_request_chat(const struct lr_request *req, struct lr_chat *chat);
/* Text of the last user message, or "". */
const char *lr_request_last_user(const struct lr_request *req);

#endif
