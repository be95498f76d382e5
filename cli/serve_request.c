/*
 * serve_request.c - an OpenAI chat.completions request body as a
 * struct lr_request.
 *
 * Read: model (a target, simple|medium|complex, or auto), messages
 * (system/developer, user, assistant with or without tool_calls, tool;
 * content a string or text parts), stream, stream_options.include_usage,
 * max_completion_tokens / max_tokens, temperature, stop (string or
 * array), user, tools, tool_choice, top_p, seed, presence_penalty,
 * frequency_penalty and response_format (the last five through
 * sampling.c, shared with `llmroute batch`).  user must be a string
 * (as in OpenAI's API and `llmroute batch`).  Other fields (logprobs,
 * logit_bias, ...) are ignored; n > 1 and non-text content parts are
 * refused with 400, since we cannot honour them.  null is the same as
 * leaving an optional field out.  Every 400 names the offending field
 * in error.param, as OpenAI does.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "llmroute.h"
#include "serve.h"

static const cJSON *get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *str_of(const cJSON *o, const char *k)
{
    const cJSON *v = get(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Content as one malloc'd string ("" for null); NULL when not text. */
static char *content_text(const cJSON *c)
{
    if (!c || cJSON_IsNull(c))
        return strdup("");
    if (cJSON_IsString(c))
        return strdup(c->valuestring);
    if (!cJSON_IsArray(c))
        return NULL;
    size_t len = 0;
    const cJSON *part;
    cJSON_ArrayForEach(part, c) {
        const char *t = str_of(part, "text");
        const char *type = str_of(part, "type");
        if (!t || (type && strcmp(type, "text")))
            return NULL;
        len += strlen(t);
    }
    char *out = calloc(1, len + 1);
    cJSON_ArrayForEach(part, c)
        if (out)
            strcat(out, str_of(part, "text"));
    return out;
}

static int add_json(struct lr_request *req, const cJSON *v,
                    int (*set)(struct lr_request *, const char *))
{
    char *j = cJSON_PrintUnformatted(v);
    int rc = j ? set(req, j) : LR_E_NOMEM;
    free(j);
    return rc;
}

static int add_message(struct lr_request *req, const cJSON *m)
{
    const char *role = str_of(m, "role");
    const cJSON *calls = get(m, "tool_calls");
    char *text = content_text(get(m, "content"));
    int rc = LR_E_INVALID_ARG;
    if (!role || !text)
        rc = LR_E_INVALID_ARG;
    else if (!strcmp(role, "system") || !strcmp(role, "developer"))
        rc = lr_request_set_system(req, text);
    else if (!strcmp(role, "user"))
        rc = lr_request_add_message(req, LR_MSG_USER, text);
    else if (!strcmp(role, "assistant") && cJSON_IsArray(calls)) {
        char *j = cJSON_PrintUnformatted(calls);
        rc = j ? lr_request_add_tool_calls(req, *text ? text : NULL, j)
               : LR_E_NOMEM;
        free(j);
    }
    else if (!strcmp(role, "assistant"))
        rc = lr_request_add_message(req, LR_MSG_ASSISTANT, text);
    else if (!strcmp(role, "tool"))
        rc = lr_request_add_tool_result(req, str_of(m, "tool_call_id"),
                                        str_of(m, "name"), text);
    free(text);
    return rc;
}

static int add_messages(struct lr_request *req, const cJSON *root,
                        struct serve_error *e)
{
    const cJSON *msgs = get(root, "messages");
    if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0) {
        serve_error_set(e, 400, "bad_request", "messages",
                        "'messages' must be a non-empty array");
        return -1;
    }
    int i = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs) {
        if (add_message(req, m) != LR_OK) {
            char param[32];
            snprintf(param, sizeof param, "messages.[%d]", i);
            serve_error_set(e, 400, "bad_request", "messages",
                            "%s: needs a role (system, developer, user, "
                            "assistant, tool), text content, tool_call_id "
                            "on tool turns and well-formed tool_calls",
                            param);
            return -1;
        }
        i++;
    }
    return 0;
}

/* The requested model: a target, a tier, or auto. */
static int set_model(struct lr_request *req, const cJSON *root,
                     const struct serve_models *models,
                     struct serve_parsed *out, struct serve_error *e)
{
    const char *model = str_of(root, "model");
    if (!model || !*model) {
        serve_error_set(e, 400, "bad_request", "model",
                        "'model' is required: a target name, simple, "
                        "medium, complex or auto");
        return -1;
    }
    snprintf(out->model, sizeof out->model, "%s", model);
    for (size_t i = 0; i < models->n; i++) {
        if (strcmp(models->names[i], model))
            continue;
        if (i < models->n_targets)
            return lr_request_set_target(req, model) ? -1 : 0;
        if (strcmp(model, "auto"))
            return lr_request_set_attr(req, "tier_want", model) ? -1 : 0;
        return 0;
    }
    serve_error_set(e, 404, "model_not_found", "model",
                    "The model '%.200s' does not exist: use a target name, "
                    "simple, medium, complex or auto (GET /v1/models)",
                    model);
    return -1;
}

static int bad(struct serve_error *e, const char *param, const char *what)
{
    serve_error_set(e, 400, "bad_request", param, "'%s' %s", param, what);
    return -1;
}

/* Numbers and switches; -1 with e filled on a bad one. */
static int set_options(struct lr_request *req, const cJSON *root,
                       struct serve_parsed *out, struct serve_error *e)
{
    const char *name;
    if (json_set_max_tokens(req, root, &name) != LR_OK)
        return bad(e, name, JSON_WANT_MAX_TOKENS);
    const cJSON *v = get(root, "temperature");
    if (v && !cJSON_IsNull(v) && (!cJSON_IsNumber(v) ||
                                  lr_request_set_temperature(req,
                                      v->valuedouble)))
        return bad(e, "temperature", "must be a number from 0 to 2");
    if (json_set_stop(req, get(root, "stop")))
        return bad(e, "stop", "must be a string or an array of strings");
    v = get(root, "n");
    if (v && !cJSON_IsNull(v) && (!cJSON_IsNumber(v) || v->valuedouble != 1))
        return bad(e, "n", "must be 1 (one choice per request)");
    v = get(root, "stream");
    if (v && !cJSON_IsNull(v) && !cJSON_IsBool(v))
        return bad(e, "stream", "must be true or false");
    out->stream = cJSON_IsTrue(v);
    v = get(get(root, "stream_options"), "include_usage");
    out->include_usage = out->stream && cJSON_IsTrue(v);
    return 0;
}

/* top_p, seed, the penalties and response_format (sampling.c). */
static int set_sampling(struct lr_request *req, const cJSON *root,
                        struct serve_error *e)
{
    const char *field, *want;
    int rc = json_set_sampling(req, root, &field, &want);
    if (rc == LR_E_NOMEM) {
        serve_error_set(e, 500, lr_status_name(LR_E_NOMEM), NULL,
                        "out of memory");
        return -1;
    }
    return rc == LR_OK ? 0 : bad(e, field, want);
}

static int set_tools(struct lr_request *req, const cJSON *root,
                     struct serve_error *e)
{
    const cJSON *tools = get(root, "tools");
    const cJSON *choice = get(root, "tool_choice");
    if (tools && !cJSON_IsNull(tools) &&
        add_json(req, tools, lr_request_set_tools_json) != LR_OK)
        return bad(e, "tools", "must be an array of function tools");
    if (choice && !cJSON_IsNull(choice) &&
        add_json(req, choice, lr_request_set_tool_choice_json) != LR_OK)
        return bad(e, "tool_choice", "must be \"auto\", \"none\", "
                   "\"required\" or a function object");
    return 0;
}

/* The end user: the client's own unless it lets the body's win.  A body
   "user" must be a string (as OpenAI has it) whether or not it is used;
   null is unset, and "" leaves the client's (or none). */
static int set_user(struct lr_request *req, const cJSON *root,
                    const char *user, int override, struct serve_error *e)
{
    const cJSON *v = get(root, "user");
    if (v && !cJSON_IsNull(v) && !cJSON_IsString(v))
        return bad(e, "user", JSON_WANT_STRING);
    if (cJSON_IsString(v) && *v->valuestring && (!user || override))
        user = v->valuestring;
    if (user && lr_request_set_user(req, user) != LR_OK) {
        serve_error_set(e, 500, lr_status_name(LR_E_NOMEM), NULL,
                        "out of memory");
        return -1;
    }
    return 0;
}

int serve_request_build(const char *body, size_t len,
                        const struct serve_models *models, const char *user,
                        int override, struct lr_request *req,
                        struct serve_parsed *out, struct serve_error *e)
{
    memset(out, 0, sizeof *out);
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        serve_error_set(e, 400, "bad_request", NULL,
                        "The request body is not a JSON object");
        return -1;
    }
    int rc = set_model(req, root, models, out, e);
    if (!rc)
        rc = add_messages(req, root, e);
    if (!rc)
        rc = set_options(req, root, out, e);
    if (!rc)
        rc = set_sampling(req, root, e);
    if (!rc)
        rc = set_tools(req, root, e);
    if (!rc)
        rc = set_user(req, root, user, override, e);
    if (rc && !e->status)
        serve_error_set(e, 400, "bad_request", NULL, "invalid request");
    cJSON_Delete(root);
    return rc ? -1 : 0;
}
