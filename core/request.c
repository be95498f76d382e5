/*
 * request.c - the public request builder.  Setters copy their strings,
 * so a caller may reuse its buffers at once; a submitted request is
 * cloned, so the caller's object may be freed or changed afterwards.
 */
#include "request.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct lr_request *lr_request_new(void)
{
    return calloc(1, sizeof(struct lr_request));
}

static void free_msg(struct lr_message *m)
{
    free((char *)m->content);
    free((char *)m->tool_calls_json);
    free((char *)m->tool_call_id);
    free((char *)m->name);
}

void lr_request_free(struct lr_request *req)
{
    if (!req)
        return;
    free(req->system);
    for (size_t i = 0; i < req->n_msgs; i++)
        free_msg(&req->msgs[i]);
    free(req->msgs);
    for (size_t i = 0; i < req->n_stop; i++)
        free(req->stop[i]);
    free(req->stop);
    free(req->user);
    free(req->target);
    free(req->tools_json);
    free(req->response_format_json);
    free(req->tool_choice_json);
    free(req->conversation);
    lr_attrs_free(&req->attrs);
    free(req);
}

static int set_str(char **slot, const char *text)
{
    char *copy = NULL;
    if (text && !(copy = strdup(text)))
        return LR_E_NOMEM;
    free(*slot);
    *slot = copy;
    return LR_OK;
}

int lr_request_set_system(struct lr_request *req, const char *text)
{
    return req ? set_str(&req->system, text) : LR_E_INVALID_ARG;
}

static int push_msg(struct lr_request *req, enum lr_role role,
                    const char *text)
{
    if (req->n_msgs == req->cap_msgs) {
        size_t cap = req->cap_msgs ? req->cap_msgs * 2 : 4;
        struct lr_message *v = realloc(req->msgs, cap * sizeof *v);
        if (!v)
            return LR_E_NOMEM;
        req->msgs = v;
        req->cap_msgs = cap;
    }
    struct lr_message *m = &req->msgs[req->n_msgs];
    memset(m, 0, sizeof *m);
    m->role = role;
    if (text && !(m->content = strdup(text)))
        return LR_E_NOMEM;
    req->n_msgs++;
    return LR_OK;
}

int lr_request_add_message(struct lr_request *req, enum lr_msg_role role,
                           const char *text)
{
    /* A tool turn needs the call it answers: lr_request_add_tool_result. */
    if (!req || !text || role < LR_MSG_SYSTEM || role >= LR_MSG_TOOL)
        return LR_E_INVALID_ARG;
    /* System turns are folded into the one system prompt every provider
       understands. */
    if (role == LR_MSG_SYSTEM)
        return set_str(&req->system, text);
    return push_msg(req, (enum lr_role)role, text);
}

int lr_request_set_prompt(struct lr_request *req, const char *text)
{
    return lr_request_add_message(req, LR_MSG_USER, text);
}

int lr_request_set_max_tokens(struct lr_request *req, int64_t n)
{
    if (!req || n < 0)
        return LR_E_INVALID_ARG;
    req->max_tokens = n;
    return LR_OK;
}

int lr_request_set_temperature(struct lr_request *req, double t)
{
    if (!req || !isfinite(t) || t < 0 || t > 2)
        return LR_E_INVALID_ARG;
    req->temperature = t;
    req->has_temperature = 1;
    return LR_OK;
}

int lr_request_add_stop(struct lr_request *req, const char *stop)
{
    if (!req || !stop || !*stop)
        return LR_E_INVALID_ARG;
    char **v = realloc(req->stop, (req->n_stop + 1) * sizeof *v);
    if (!v)
        return LR_E_NOMEM;
    req->stop = v;
    if (!(v[req->n_stop] = strdup(stop)))
        return LR_E_NOMEM;
    req->n_stop++;
    return LR_OK;
}

int lr_request_set_user(struct lr_request *req, const char *user)
{
    return req ? set_str(&req->user, user) : LR_E_INVALID_ARG;
}

int lr_request_set_timeout_ms(struct lr_request *req, int64_t ms)
{
    if (!req || ms < 0)
        return LR_E_INVALID_ARG;
    req->timeout_ms = ms;
    return LR_OK;
}

int lr_request_set_target(struct lr_request *req, const char *name)
{
    return req ? set_str(&req->target, name) : LR_E_INVALID_ARG;
}

int lr_request_set_conversation(struct lr_request *req, const char *id)
{
    return req ? set_str(&req->conversation, id) : LR_E_INVALID_ARG;
}

int lr_request_set_cache_bypass(struct lr_request *req, int bypass)
{
    if (!req)
        return LR_E_INVALID_ARG;
    req->cache_bypass = bypass != 0;
    return LR_OK;
}

int lr_request_set_attr(struct lr_request *req, const char *key,
                        const char *value)
{
    if (!req || !key || !*key)
        return LR_E_INVALID_ARG;
    return lr_attrs_set(&req->attrs, key, value);
}

static int dup_field(const char **dst, const char *src)
{
    *dst = NULL;
    return !src || (*dst = strdup(src)) ? 0 : -1;
}

static int clone_msgs(struct lr_request *c, const struct lr_request *req)
{
    c->msgs = calloc(req->n_msgs ? req->n_msgs : 1, sizeof *c->msgs);
    if (!c->msgs)
        return -1;
    c->cap_msgs = req->n_msgs ? req->n_msgs : 1;
    for (size_t i = 0; i < req->n_msgs; i++) {
        const struct lr_message *m = &req->msgs[i];
        struct lr_message *d = &c->msgs[i];
        c->n_msgs = i + 1;
        d->role = m->role;
        if (dup_field(&d->content, m->content) ||
            dup_field(&d->tool_calls_json, m->tool_calls_json) ||
            dup_field(&d->tool_call_id, m->tool_call_id) ||
            dup_field(&d->name, m->name))
            return -1;
    }
    return 0;
}

struct lr_request *lr_request_clone(const struct lr_request *req)
{
    struct lr_request *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->max_tokens = req->max_tokens;
    c->temperature = req->temperature;
    c->has_temperature = req->has_temperature;
    c->timeout_ms = req->timeout_ms;
    c->cache_bypass = req->cache_bypass;
    c->top_p = req->top_p;
    c->has_top_p = req->has_top_p;
    c->seed = req->seed;
    c->has_seed = req->has_seed;
    c->presence_penalty = req->presence_penalty;
    c->has_presence_penalty = req->has_presence_penalty;
    c->frequency_penalty = req->frequency_penalty;
    c->has_frequency_penalty = req->has_frequency_penalty;
    int bad = set_str(&c->system, req->system) ||
              set_str(&c->conversation, req->conversation) ||
              lr_attrs_copy(&c->attrs, &req->attrs) != LR_OK ||
              set_str(&c->user, req->user) ||
              set_str(&c->target, req->target) ||
              set_str(&c->tools_json, req->tools_json) ||
              set_str(&c->tool_choice_json, req->tool_choice_json) ||
              set_str(&c->response_format_json,
                      req->response_format_json) ||
              clone_msgs(c, req);
    for (size_t i = 0; !bad && i < req->n_stop; i++)
        bad = lr_request_add_stop(c, req->stop[i]) != LR_OK;
    if (bad) {
        lr_request_free(c);
        return NULL;
    }
    return c;
}

int lr_request_view(struct lr_request *view, const struct lr_request *src)
{
    *view = *src;
    memset(&view->attrs, 0, sizeof view->attrs);
    return lr_attrs_copy(&view->attrs, &src->attrs);
}

void lr_request_view_free(struct lr_request *view)
{
    lr_attrs_free(&view->attrs);
}

void lr_request_chat(const struct lr_request *req, struct lr_chat *chat)
{
    memset(chat, 0, sizeof *chat);
    chat->system = req->system;
    chat->messages = req->msgs;
    chat->n_messages = req->n_msgs;
    chat->max_tokens = req->max_tokens;
    chat->temperature = req->temperature;
    chat->has_temperature = req->has_temperature;
    chat->stop = (const char *const *)req->stop;
    chat->n_stop = req->n_stop;
    chat->user = req->user;
    chat->tools_json = req->tools_json;
    chat->tool_choice_json = req->tool_choice_json;
    chat->top_p = req->top_p;
    chat->has_top_p = req->has_top_p;
    chat->seed = req->seed;
    chat->has_seed = req->has_seed;
    chat->presence_penalty = req->presence_penalty;
    chat->has_presence_penalty = req->has_presence_penalty;
    chat->frequency_penalty = req->frequency_penalty;
    chat->has_frequency_penalty = req->has_frequency_penalty;
    chat->response_format_json = req->response_format_json;
}

const char *lr_request_last_user(const struct lr_request *req)
{
    for (size_t i = req->n_msgs; i-- > 0;)
        if (req->msgs[i].role == LR_ROLE_USER && req->msgs[i].content)
            return req->msgs[i].content;
    return "";
}
