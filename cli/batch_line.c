/*
 * batch_line.c - one line of a batch input file into a request.
 *
 * A line is a JSON object: "id" (string or number, the join key), then
 * "prompt" (string) or "messages" (OpenAI-style array, parsed by
 * messages.c as for `chat --messages`), and optionally "system",
 * "max_completion_tokens" or "max_tokens" (the first wins, as in the
 * gateway), "temperature", "stop" (a string or an array of strings),
 * "user", "target", "tier", "conversation",
 * "tools", "tool_choice", and "top_p", "seed", "presence_penalty",
 * "frequency_penalty", "response_format" (sampling.c, as the gateway
 * reads them).  null is the same as leaving a key out, for every key but
 * "id" (OpenAI clients send null for what they leave unset, and the
 * gateway reads null so too).  Other keys are ignored, so a line may carry
 * the caller's own data.  A line without a usable id cannot be joined to
 * a result: it is LINE_NO_ID (the caller warns and skips it); a line with
 * an id but a bad field is LINE_BAD (the caller writes an error result).
 */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "cli.h"
#include "llmroute.h"

static int bad(struct batch_line *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int bad(struct batch_line *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->err, sizeof l->err, fmt, ap);
    va_end(ap);
    return -1;
}

/* o's key, NULL when absent or null (unset, as in the gateway). */
static const cJSON *opt(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNull(v) ? NULL : v;
}

/* The optional string fields, each with its setter. */
static int set_strings(struct batch_line *l, const cJSON *o)
{
    static const struct {
        const char *key;
        int (*set)(struct lr_request *, const char *);
    } fields[] = {
        {"system", lr_request_set_system},
        {"user", lr_request_set_user},
        {"target", lr_request_set_target},
        {"conversation", lr_request_set_conversation},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const cJSON *v = opt(o, fields[i].key);
        if (!v)
            continue;
        if (!cJSON_IsString(v) || fields[i].set(l->req, v->valuestring))
            return bad(l, "\"%s\" " JSON_WANT_STRING, fields[i].key);
    }
    const cJSON *t = opt(o, "tier");
    if (t && (!cJSON_IsString(t) || (strcmp(t->valuestring, "simple") &&
                                     strcmp(t->valuestring, "medium") &&
                                     strcmp(t->valuestring, "complex"))))
        return bad(l, "\"%s\" must be \"simple\", \"medium\" or "
                   "\"complex\"", "tier");
    if (t && lr_request_set_attr(l->req, "tier_want", t->valuestring))
        return bad(l, "%s", "out of memory");
    return 0;
}

static int set_numbers(struct batch_line *l, const cJSON *o)
{
    const char *mname;
    if (json_set_max_tokens(l->req, o, &mname) != LR_OK)
        return bad(l, "\"%s\" " JSON_WANT_MAX_TOKENS, mname);
    const cJSON *t = opt(o, "temperature");
    if (json_set_stop(l->req, opt(o, "stop")))
        return bad(l, "\"%s\" must be a string or an array of strings",
                   "stop");
    if (t && (!cJSON_IsNumber(t) ||
              lr_request_set_temperature(l->req, t->valuedouble)))
        return bad(l, "\"%s\" must be a number in range", "temperature");
    const char *field, *want;
    if (json_set_sampling(l->req, o, &field, &want) != LR_OK)
        return bad(l, "\"%s\" %s", field, want);
    return 0;
}

static int set_content(struct batch_line *l, const cJSON *o)
{
    const cJSON *p = opt(o, "prompt");
    const cJSON *m = opt(o, "messages");
    char why[256];
    if (p && m)
        return bad(l, "%s", "give \"prompt\" or \"messages\", not both");
    if (!p && !m)
        return bad(l, "%s", "needs \"prompt\" or \"messages\"");
    if (p && (!cJSON_IsString(p) || !p->valuestring[0]))
        return bad(l, "%s", "\"prompt\" must be a non-empty string");
    if (p && lr_request_set_prompt(l->req, p->valuestring))
        return bad(l, "%s", "out of memory");
    if (m && !cJSON_IsArray(m))
        return bad(l, "%s", "\"messages\" must be an array");
    if ((m && json_add_messages(l->req, m, why, sizeof why)) ||
        json_add_tools(l->req, o, why, sizeof why))
        return bad(l, "%s", why);
    return 0;
}

/* The id as compact JSON; strings and numbers only. */
static int take_id(struct batch_line *l, const cJSON *o)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
    if (!id)
        return bad(l, "%s", "no \"id\"");
    if (!cJSON_IsString(id) && !cJSON_IsNumber(id))
        return bad(l, "%s", "\"id\" must be a string or a number");
    l->id_json = cJSON_PrintUnformatted(id);
    return l->id_json ? 0 : bad(l, "%s", "out of memory");
}

static int blank(const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    return *s == '\0';
}

enum line_kind batch_line_parse(const char *text, int64_t timeout_ms,
                                struct batch_line *l)
{
    memset(l, 0, sizeof *l);
    if (blank(text))
        return LINE_BLANK;
    cJSON *o = cJSON_Parse(text);
    enum line_kind k = LINE_OK;
    if (!cJSON_IsObject(o)) {
        bad(l, "%s", o ? "not a JSON object" : "not valid JSON");
        k = LINE_NO_ID;
    }
    else if (take_id(l, o))
        k = LINE_NO_ID;
    else if (!(l->req = lr_request_new())) {
        bad(l, "out of memory");
        k = LINE_BAD;
    }
    else if (set_content(l, o) || set_strings(l, o) || set_numbers(l, o) ||
             (timeout_ms > 0 &&
              lr_request_set_timeout_ms(l->req, timeout_ms) &&
              bad(l, "out of memory")))
        k = LINE_BAD;
    cJSON_Delete(o);
    if (k != LINE_OK) {
        lr_request_free(l->req);
        l->req = NULL;
    }
    return k;
}

void batch_line_clear(struct batch_line *l)
{
    cJSON_free(l->id_json);
    lr_request_free(l->req);
    memset(l, 0, sizeof *l);
}
