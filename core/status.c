/*
 * status.c - names and sentences for enum lr_status, and the rules that
 * say which error classes are worth another attempt.  The names are the
 * error-class vocabulary of the design notes: one spelling everywhere
 * (API, CLI JSON, metrics, logs).
 */
#include "status.h"

#include <string.h>

struct status_row {
    enum lr_status st;
    const char *name;
    const char *text;
};

static const struct status_row rows[] = {
    {LR_OK, "ok", "success"},
    {LR_E_RATE_LIMITED, "rate_limited", "rate limited by the provider"},
    {LR_E_QUOTA_EXHAUSTED, "quota_exhausted",
     "provider quota or credit exhausted"},
    {LR_E_OVERLOADED, "overloaded", "provider overloaded"},
    {LR_E_SERVER_ERROR, "server_error", "provider server error"},
    {LR_E_TIMEOUT, "timeout", "timed out"},
    {LR_E_NETWORK, "network", "network error"},
    {LR_E_AUTH, "auth", "authentication or permission error"},
    {LR_E_BAD_REQUEST, "bad_request", "request rejected as invalid"},
    {LR_E_CONTEXT_LENGTH, "context_length",
     "prompt exceeds the model's context window"},
    {LR_E_CONTENT_FILTER, "content_filter", "blocked by a content filter"},
    {LR_E_BUDGET_EXCEEDED, "budget_exceeded", "budget exceeded"},
    {LR_E_RATE_LIMITED_LOCAL, "rate_limited_local",
     "rejected by a local rate limit"},
    {LR_E_NO_TARGET, "no_target", "no target could take the request"},
    {LR_E_CANCELLED, "cancelled", "cancelled"},
    {LR_E_INVALID_ARG, "invalid_argument", "invalid argument"},
    {LR_E_NOMEM, "out_of_memory", "out of memory"},
    {LR_E_CONFIG, "config", "configuration error"},
    {LR_E_PLUGIN, "plugin", "plugin error"},
    {LR_E_NOT_FOUND, "not_found", "not found"},
    {LR_E_INTERNAL, "internal", "internal error"},
    {LR_E_PROTOCOL, "protocol", "unparseable upstream response"},
    {LR_E_STOPPED, "stopped", "router is closing"},
};

static const struct status_row *find(enum lr_status st)
{
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (rows[i].st == st)
            return &rows[i];
    return NULL;
}

const char *lr_strerror(enum lr_status st)
{
    const struct status_row *r = find(st);
    return r ? r->text : "unknown status";
}

const char *lr_status_name(enum lr_status st)
{
    const struct status_row *r = find(st);
    return r ? r->name : "unknown";
}

int lr_status_from_name(const char *name, enum lr_status *out)
{
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        if (strcmp(rows[i].name, name) == 0) {
            *out = rows[i].st;
            return LR_OK;
        }
    }
    return LR_E_NOT_FOUND;
}

int lr_status_retryable(enum lr_status st)
{
    switch (st) {
    case LR_E_RATE_LIMITED:
    case LR_E_OVERLOADED:
    case LR_E_SERVER_ERROR:
    case LR_E_TIMEOUT:
    case LR_E_NETWORK:
    case LR_E_PROTOCOL:
        return 1;
    default:
        return 0;
    }
}

int lr_status_fallback(enum lr_status st)
{
    /* Failures that belong to the target (its quota, its key) rather
       than to the request: another target may well answer. */
    return lr_status_retryable(st) || st == LR_E_QUOTA_EXHAUSTED ||
           st == LR_E_AUTH;
}
