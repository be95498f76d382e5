/*
 * request_tools.c - the tool-calling part of the request builder.  Tool
 * definitions, choices and calls are kept as OpenAI-shaped JSON text,
 * the one shape every provider plugin translates from; the setters parse
 * it once so a malformed value is refused here, with the caller, rather
 * than by a provider mid-request.
 */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"

/* 1 when text is JSON whose top level satisfies ok(). */
static int json_is(const char *text, cJSON_bool (*ok)(const cJSON *))
{
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    int good = j && ok(j);
    cJSON_Delete(j);
    return good;
}

static cJSON_bool is_choice(const cJSON *j)
{
    if (cJSON_IsString(j))
        return !strcmp(j->valuestring, "auto") ||
               !strcmp(j->valuestring, "none") ||
               !strcmp(j->valuestring, "required");
    return cJSON_IsObject(j);
}

static int replace(char **slot, const char *text)
{
    char *copy = strdup(text);
    if (!copy)
        return LR_E_NOMEM;
    free(*slot);
    *slot = copy;
    return LR_OK;
}

int lr_request_set_tools_json(struct lr_request *req, const char *tools)
{
    if (!req || !json_is(tools, cJSON_IsArray))
        return LR_E_INVALID_ARG;
    return replace(&req->tools_json, tools);
}

int lr_request_set_tool_choice_json(struct lr_request *req,
                                    const char *choice)
{
    if (!req || !choice)
        return LR_E_INVALID_ARG;
    /* A bare word is accepted as well as its JSON string form. */
    if (!strcmp(choice, "auto") || !strcmp(choice, "none") ||
        !strcmp(choice, "required") || json_is(choice, is_choice))
        return replace(&req->tool_choice_json, choice);
    return LR_E_INVALID_ARG;
}

static struct lr_message *push(struct lr_request *req, enum lr_role role)
{
    if (req->n_msgs == req->cap_msgs) {
        size_t cap = req->cap_msgs ? req->cap_msgs * 2 : 4;
        struct lr_message *v = realloc(req->msgs, cap * sizeof *v);
        if (!v)
            return NULL;
        req->msgs = v;
        req->cap_msgs = cap;
    }
    struct lr_message *m = &req->msgs[req->n_msgs++];
    memset(m, 0, sizeof *m);
    m->role = role;
    return m;
}

static int dup_into(const char **slot, const char *text)
{
    return !text || (*slot = strdup(text)) ? LR_OK : LR_E_NOMEM;
}

int lr_request_add_tool_calls(struct lr_request *req, const char *text,
                              const char *tool_calls_json)
{
    if (!req || !json_is(tool_calls_json, cJSON_IsArray))
        return LR_E_INVALID_ARG;
    struct lr_message *m = push(req, LR_ROLE_ASSISTANT);
    if (!m)
        return LR_E_NOMEM;
    /* On failure the half-filled message stays and is freed with the
       request; only its count matters to the free. */
    if (dup_into(&m->content, text) || dup_into(&m->tool_calls_json,
                                                tool_calls_json))
        return LR_E_NOMEM;
    return LR_OK;
}

int lr_request_add_tool_result(struct lr_request *req,
                               const char *tool_call_id, const char *name,
                               const char *content)
{
    if (!req || !tool_call_id || !*tool_call_id || !content)
        return LR_E_INVALID_ARG;
    struct lr_message *m = push(req, LR_ROLE_TOOL);
    if (!m)
        return LR_E_NOMEM;
    if (dup_into(&m->content, content) ||
        dup_into(&m->tool_call_id, tool_call_id) || dup_into(&m->name, name))
        return LR_E_NOMEM;
    return LR_OK;
}
