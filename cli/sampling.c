/*
 * sampling.c - the sampling hints and the response format of an
 * OpenAI-shaped object (a chat.completions body, a batch input line):
 * top_p, seed, presence_penalty, frequency_penalty and response_format;
 * its stop sequences; and its token limit (max_completion_tokens or
 * max_tokens).
 *
 * Shared by the gateway (serve_request.c, which turns a bad one into a
 * 400 naming the field) and `llmroute batch` (batch_line.c, which turns
 * it into a bad_request result line), so both accept exactly the same
 * values.  The ranges themselves are the library's (lr_request_set_*);
 * here only the JSON types are checked, and null means unset, as OpenAI
 * reads it.
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>

#include "cli.h"
#include "llmroute.h"

/* A whole number a double holds exactly, |v| < 2^53.  cJSON keeps
   every number as a double, so a JSON seed of 2^53 + 1 arrives as 2^53;
   refusing 2^53 itself refuses everything that could have been rounded
   to it.  (A fraction written with more than 17 significant digits may
   still round to a whole number first, as in any double-based parser.)
   Seeds and token limits both pass through here. */
#define EXACT_LIMIT 9007199254740992.0   /* 2^53 */
#define SEED_RANGE "-9007199254740991 and 9007199254740991"

static int exact_whole(const cJSON *v)
{
    return cJSON_IsNumber(v) && v->valuedouble > -EXACT_LIMIT &&
           v->valuedouble < EXACT_LIMIT &&
           v->valuedouble == (double)(int64_t)v->valuedouble;
}

static int number(struct lr_request *req, const cJSON *v,
                  int (*set)(struct lr_request *, double))
{
    return cJSON_IsNumber(v) ? set(req, v->valuedouble) : LR_E_INVALID_ARG;
}

static int top_p(struct lr_request *req, const cJSON *v)
{
    return number(req, v, lr_request_set_top_p);
}

static int seed(struct lr_request *req, const cJSON *v)
{
    return exact_whole(v) ? lr_request_set_seed(req, (int64_t)v->valuedouble)
                          : LR_E_INVALID_ARG;
}

static int presence(struct lr_request *req, const cJSON *v)
{
    return number(req, v, lr_request_set_presence_penalty);
}

static int frequency(struct lr_request *req, const cJSON *v)
{
    return number(req, v, lr_request_set_frequency_penalty);
}

/* Passed on as its JSON text: the library checks the shape. */
static int format(struct lr_request *req, const cJSON *v)
{
    if (!cJSON_IsObject(v))
        return LR_E_INVALID_ARG;
    char *j = cJSON_PrintUnformatted(v);
    int rc = j ? lr_request_set_response_format_json(req, j) : LR_E_NOMEM;
    free(j);
    return rc;
}

#define PENALTY "must be a number from -2 to 2"

int json_set_sampling(struct lr_request *req, const cJSON *obj,
                      const char **field, const char **want)
{
    static const struct {
        const char *key;
        int (*set)(struct lr_request *, const cJSON *);
        const char *want;
    } fields[] = {
        {"top_p", top_p, "must be a number above 0 and at most 1"},
        {"seed", seed, "must be a whole number between " SEED_RANGE},
        {"presence_penalty", presence, PENALTY},
        {"frequency_penalty", frequency, PENALTY},
        {"response_format", format, "must be {\"type\":\"text\"}, "
         "{\"type\":\"json_object\"} or {\"type\":\"json_schema\","
         "\"json_schema\":{\"name\":NAME,\"schema\":{...}}} (NAME: 1 to 64 "
         "of A-Z a-z 0-9 _ -)"},
    };
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, fields[i].key);
        if (!v || cJSON_IsNull(v))
            continue;
        int rc = fields[i].set(req, v);
        if (rc != LR_OK) {
            *field = fields[i].key;
            *want = rc == LR_E_NOMEM ? "could not be stored (out of memory)"
                                     : fields[i].want;
            return rc;
        }
    }
    return LR_OK;
}

int json_set_max_tokens(struct lr_request *req, const cJSON *obj,
                        const char **field)
{
    const char *name = "max_completion_tokens";
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v || cJSON_IsNull(v))
        v = cJSON_GetObjectItemCaseSensitive(obj, name = "max_tokens");
    if (!v || cJSON_IsNull(v))
        return LR_OK;
    *field = name;
    return exact_whole(v) && v->valuedouble >= 1
               ? lr_request_set_max_tokens(req, (int64_t)v->valuedouble)
               : LR_E_INVALID_ARG;
}

int json_set_stop(struct lr_request *req, const cJSON *stop)
{
    if (!stop || cJSON_IsNull(stop))
        return 0;
    if (cJSON_IsString(stop))
        return lr_request_add_stop(req, stop->valuestring) ? -1 : 0;
    if (!cJSON_IsArray(stop))
        return -1;
    const cJSON *s;
    cJSON_ArrayForEach(s, stop)
        if (!cJSON_IsString(s) || lr_request_add_stop(req, s->valuestring))
            return -1;
    return 0;
}
