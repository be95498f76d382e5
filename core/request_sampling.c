/*
 * request_sampling.c - the sampling hints (top_p, seed, presence and
 * frequency penalties) and the response format of a request.
 *
 * The response format is kept as OpenAI-shaped JSON text, like the tool
 * definitions (request_tools.c), and checked here so that a malformed one
 * is refused with the caller rather than by a provider mid-request.  It
 * is stored printed compactly; {"type":"text"} is the default and is
 * stored as NULL, so a plain-text request never looks special to a
 * provider that cannot do formats.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"

int lr_request_set_top_p(struct lr_request *req, double p)
{
    if (!req || !isfinite(p) || p <= 0 || p > 1)
        return LR_E_INVALID_ARG;
    req->top_p = p;
    req->has_top_p = 1;
    return LR_OK;
}

int lr_request_set_seed(struct lr_request *req, int64_t seed)
{
    if (!req)
        return LR_E_INVALID_ARG;
    req->seed = seed;
    req->has_seed = 1;
    return LR_OK;
}

static int penalty_ok(double v)
{
    return isfinite(v) && v >= -2 && v <= 2;
}

int lr_request_set_presence_penalty(struct lr_request *req, double v)
{
    if (!req || !penalty_ok(v))
        return LR_E_INVALID_ARG;
    req->presence_penalty = v;
    req->has_presence_penalty = 1;
    return LR_OK;
}

int lr_request_set_frequency_penalty(struct lr_request *req, double v)
{
    if (!req || !penalty_ok(v))
        return LR_E_INVALID_ARG;
    req->frequency_penalty = v;
    req->has_frequency_penalty = 1;
    return LR_OK;
}

/* {"name":"...", "schema":{...}?, "strict":bool?, "description":"..."?}:
   OpenAI requires the name, 1 to 64 of [A-Za-z0-9_-]. */
static int schema_ok(const cJSON *js)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(js, "name");
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(js, "schema");
    const cJSON *strict = cJSON_GetObjectItemCaseSensitive(js, "strict");
    const cJSON *desc = cJSON_GetObjectItemCaseSensitive(js, "description");
    if (!cJSON_IsObject(js) || !cJSON_IsString(name))
        return 0;
    size_t n = strlen(name->valuestring);
    if (n < 1 || n > 64 ||
        strspn(name->valuestring, "abcdefghijklmnopqrstuvwxyz"
               "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != n)
        return 0;
    return (!schema || cJSON_IsObject(schema)) &&
           (!strict || cJSON_IsBool(strict)) &&
           (!desc || cJSON_IsString(desc));
}

/* The format's type: "text", "json_object" or "json_schema"; NULL when
   j is not a valid response_format. */
static const char *format_type(const cJSON *j)
{
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
    if (!cJSON_IsObject(j) || !cJSON_IsString(type))
        return NULL;
    const char *t = type->valuestring;
    if (!strcmp(t, "text") || !strcmp(t, "json_object"))
        return t;
    if (!strcmp(t, "json_schema") &&
        schema_ok(cJSON_GetObjectItemCaseSensitive(j, "json_schema")))
        return t;
    return NULL;
}

int lr_request_set_response_format_json(struct lr_request *req,
                                        const char *json)
{
    if (!req || !json)
        return LR_E_INVALID_ARG;
    cJSON *j = cJSON_Parse(json);
    const char *type = j ? format_type(j) : NULL;
    int rc = LR_OK;
    char *text = NULL;
    if (!type)
        rc = LR_E_INVALID_ARG;
    else if (strcmp(type, "text") && !(text = cJSON_PrintUnformatted(j)))
        rc = LR_E_NOMEM;
    cJSON_Delete(j);
    if (rc == LR_OK) {
        free(req->response_format_json);
        req->response_format_json = text;
    }
    return rc;
}
