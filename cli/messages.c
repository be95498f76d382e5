/*
 * messages.c - `llmroute chat --messages FILE.json`: a whole conversation
 * in OpenAI's shape, either a bare messages array or an object
 * {"messages":[...], "tools":[...], "tool_choice":...}.  Content may be a
 * string or an array of {"type":"text","text":...} parts (joined).
 * Errors name the message index and what is wrong.  `llmroute batch`
 * reuses the JSON half (json_add_messages/json_add_tools) per input line.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "llmroute.h"

/* Content as one string (malloc'd), "" when null/absent; NULL if bad. */
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
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsString(t))
            return NULL;
        len += strlen(t->valuestring);
    }
    char *out = calloc(1, len + 1);
    cJSON_ArrayForEach(part, c)
        if (out)
            strcat(out, cJSON_GetObjectItemCaseSensitive(part, "text")
                            ->valuestring);
    return out;
}

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int add_one(struct lr_request *req, const cJSON *m, const char *text)
{
    const char *role = str_of(m, "role");
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
    if (!role)
        return -1;
    if (!strcmp(role, "system") || !strcmp(role, "developer"))
        return lr_request_set_system(req, text);
    if (!strcmp(role, "user"))
        return lr_request_add_message(req, LR_MSG_USER, text);
    if (!strcmp(role, "assistant") && cJSON_IsArray(calls)) {
        char *j = cJSON_PrintUnformatted(calls);
        int rc = j ? lr_request_add_tool_calls(req, *text ? text : NULL, j)
                   : LR_E_NOMEM;
        free(j);
        return rc;
    }
    if (!strcmp(role, "assistant"))
        return lr_request_add_message(req, LR_MSG_ASSISTANT, text);
    if (!strcmp(role, "tool"))
        return lr_request_add_tool_result(req, str_of(m, "tool_call_id"),
                                          str_of(m, "name"), text);
    return -1;
}

int json_add_messages(struct lr_request *req, const cJSON *msgs, char *err,
                      size_t errlen)
{
    int i = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs) {
        char *text = content_text(cJSON_GetObjectItemCaseSensitive(m,
                                                                   "content"));
        int rc = text ? add_one(req, m, text) : -1;
        free(text);
        if (rc) {
            snprintf(err, errlen, "messages[%d]: needs a role (system, "
                     "user, assistant, tool), string or text-part content, "
                     "tool_call_id on tool turns and well-formed tool_calls",
                     i);
            return -1;
        }
        i++;
    }
    if (!i) {
        snprintf(err, errlen, "no messages");
        return -1;
    }
    return 0;
}

int json_add_tools(struct lr_request *req, const cJSON *root, char *err,
                   size_t errlen)
{
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(root, "tools");
    const cJSON *choice = cJSON_GetObjectItemCaseSensitive(root,
                                                           "tool_choice");
    char *j;
    int rc = 0;
    if (tools && !cJSON_IsNull(tools)) {   /* null: unset */
        j = cJSON_PrintUnformatted(tools);
        rc = j && lr_request_set_tools_json(req, j) == LR_OK ? 0 : -1;
        free(j);
        if (rc) {
            snprintf(err, errlen, "tools must be an array of tool "
                     "definitions");
            return -1;
        }
    }
    if (choice && !cJSON_IsNull(choice)) {
        j = cJSON_PrintUnformatted(choice);
        rc = j && lr_request_set_tool_choice_json(req, j) == LR_OK ? 0 : -1;
        free(j);
        if (rc) {
            snprintf(err, errlen, "tool_choice must be \"auto\", \"none\", "
                     "\"required\" or a function object");
            return -1;
        }
    }
    return 0;
}

int load_messages(struct lr_request *req, const char *path)
{
    FILE *fp = strcmp(path, "-") ? fopen(path, "r") : stdin;
    if (!fp)
        return usage_error("%s: cannot open", path);
    char *text = read_all(fp);
    if (fp != stdin)
        fclose(fp);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (!root)
        return usage_error("%s: not valid JSON", path);
    const cJSON *msgs = cJSON_IsArray(root)
        ? root : cJSON_GetObjectItemCaseSensitive(root, "messages");
    char err[256];
    int rc = 0;
    if (!cJSON_IsArray(msgs))
        rc = usage_error("%s: expected a messages array or an object with "
                         "\"messages\"", path);
    else if (json_add_messages(req, msgs, err, sizeof err) ||
             (cJSON_IsObject(root) &&
              json_add_tools(req, root, err, sizeof err)))
        rc = usage_error("%s: %s", path, err);
    cJSON_Delete(root);
    return rc;
}
