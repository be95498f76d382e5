/*
 * provider_openai.c - the OpenAI Chat Completions provider.
 *
 * A pure translator (see llmroute_plugin.h): it turns an lr_chat into a
 * POST to <base_url>/chat/completions, and a response, an error body or
 * one SSE event back into an lr_result.  It serves api.openai.com and the
 * OpenAI-compatible local servers (vLLM, Ollama, llama.cpp), whose quirks
 * are folded in where they differ: integer error codes, flat vLLM error
 * bodies, `max_tokens` instead of `max_completion_tokens`.
 *
 * Decisions worth knowing:
 *  - Every parse path fills the result and returns LR_OK; a 2xx body we
 *    cannot read is reported as LR_E_PROTOCOL (never as success), a
 *    non-2xx body we cannot read is classified by status with an excerpt
 *    as its message.  Only NULL arguments or out-of-memory return
 *    anything else.
 *  - Error classes follow provider-wire-formats.md 1, 4 and 6; on top of
 *    them 402 (OpenAI-compatible proxies' "insufficient credits") is
 *    quota_exhausted, and a 429 whose "Limit L, Requested R" has R > L is
 *    bad_request whatever its wording, since it can never fit.
 *  - A retry hint is computed only for classes worth retrying; the core's
 *    generic headers (retry-after-ms, retry-after) win over it anyway.
 *  - The x-ratelimit-remaining/reset-{requests,tokens} headers are read
 *    into the result's rl_* fields on every response, success or error,
 *    for a limits policy to learn from.  Streams are left alone: the
 *    provider never sees a stream's headers.
 *  - The target's API key is cut out of every error message we copy,
 *    should an upstream or proxy echo it.
 *  - The key goes in "Authorization: Bearer", or in "api-key" for Azure
 *    OpenAI (auth_header; auto decides by base_url's host alone).
 *  - The request body is written as JSON text straight into the output
 *    buffer (openai_json.h), byte-identical to the cJSON tree it replaced
 *    (openai_build_ref.h, the test's reference); only JSON the caller
 *    embeds (tools, tool_choice, tool_calls, response_format) still goes
 *    through cJSON.
 *
 * Only lr_plugin_entry is exported; libcjson is the one library linked.
 */
#include "c_locale.h"
#include "llmroute_plugin.h"
#include "openai_build_ref.h"
#include "openai_json.h"
#include "provider_util.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_CALLS 1024    /* tool calls accumulated over one stream */

struct openai {
    const struct lr_host *host;
};

static const struct lr_cfg_key target_keys[] = {
    {"organization", LR_CFG_STRING, NULL,
     "sent as the OpenAI-Organization header"},
    {"project", LR_CFG_STRING, NULL, "sent as the OpenAI-Project header"},
    {"max_tokens_field", LR_CFG_STRING, "max_completion_tokens",
     "max_completion_tokens, or max_tokens for local servers"},
    {"stream_usage", LR_CFG_BOOL, "true",
     "ask for usage at the end of a stream (stream_options.include_usage)"},
    {"auth_header", LR_CFG_STRING, "auto",
     "bearer (Authorization: Bearer KEY), api-key (api-key: KEY, Azure "
     "OpenAI) or auto: api-key for Azure OpenAI hosts, else bearer"},
};

/* --- Building the request ------------------------------------------------ */

/* Nonzero when s can stand in a header line (no CR/LF or other C0). */
static int header_safe(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    }
    return 1;
}

/*
 * Nonzero when url's host is an Azure OpenAI resource, whose API keys go
 * in an "api-key" header (Bearer there is for Entra ID tokens): the hosts
 * the Azure portal hands out, NAME.openai.azure.com and
 * NAME.cognitiveservices.azure.com.  Only the host counts, compared as
 * a whole-label suffix: openai.azure.com.evil.example, a user part
 * "x.openai.azure.com@evil.example" or a path naming Azure do not.
 */
static int azure_host(const char *url)
{
    static const char *const suffixes[] = {".openai.azure.com",
                                           ".cognitiveservices.azure.com"};
    const char *host = strstr(url, "://");
    host = host ? host + 3 : url;
    size_t alen = strcspn(host, "/?#"); /* the authority */
    for (size_t i = alen; i > 0; i--) {
        if (host[i - 1] == '@') { /* user info ends at the last '@' */
            alen -= i;
            host += i;
            break;
        }
    }
    size_t hlen = strcspn(host, ":"); /* an IPv6 literal never matches */
    if (hlen > alen)
        hlen = alen;
    if (hlen && host[hlen - 1] == '.') /* "x.openai.azure.com." is FQDN */
        hlen--;
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        size_t n = strlen(suffixes[i]);
        if (hlen > n && strncasecmp(host + hlen - n, suffixes[i], n) == 0)
            return 1;
    }
    return 0;
}

/* Nonzero when the 40 bytes of v an error would show hold 8 consecutive
   bytes of key (all of it if shorter): a key pasted in the wrong place
   must not be echoed. */
static int shows_key(const char *v, const char *key)
{
    if (!key)
        return 1;   /* not known yet (at load): it might */
    size_t klen = strlen(key), vlen = 0, w;
    while (vlen < 40 && v[vlen])
        vlen++;
    w = klen < 8 ? klen : 8;
    for (size_t i = 0; w && i + w <= vlen; i++) {
        for (size_t j = 0; j + w <= klen; j++) {
            if (memcmp(v + i, key + j, w) == 0)
                return 1;
        }
    }
    return 0;
}

/* auth_header: bearer, api-key, or auto (by base_url's host). */
static int read_auth(const struct lr_host *h, const struct lr_target_info *t,
                     struct target_opts *o, char *err, size_t errlen)
{
    const char *v;
    if (!t->section || h->cfg_str(t->section, "auth_header", &v) != LR_OK)
        v = "auto";
    if (strcmp(v, "auto") == 0)
        o->api_key_header = azure_host(t->base_url);
    else if (strcmp(v, "api-key") == 0)
        o->api_key_header = 1;
    else if (strcmp(v, "bearer") == 0)
        o->api_key_header = 0;
    else if (header_safe(v) && !shows_key(v, t->api_key))
        return fail(err, errlen, LR_E_CONFIG,
                    "auth_header: \"%.40s\" is not bearer, api-key or "
                    "auto", v);
    else
        return fail(err, errlen, LR_E_CONFIG,
                    "auth_header: not bearer, api-key or auto (value not "
                    "shown: it may hold the API key)");
    return LR_OK;
}

/* The target's own keys; the section may be NULL (defaults then). */
static int read_opts(const struct lr_host *h, const struct lr_target_info *t,
                     struct target_opts *o, char *err, size_t errlen)
{
    const char *v;
    int b;

    memset(o, 0, sizeof *o);
    o->stream_usage = 1;
    if (read_auth(h, t, o, err, errlen) != LR_OK)
        return LR_E_CONFIG;
    if (!t->section)
        return LR_OK;
    if (h->cfg_str(t->section, "organization", &v) == LR_OK && *v)
        o->organization = v;
    if (h->cfg_str(t->section, "project", &v) == LR_OK && *v)
        o->project = v;
    if (h->cfg_str(t->section, "max_tokens_field", &v) == LR_OK) {
        o->legacy_max_tokens = strcmp(v, "max_tokens") == 0;
        if (!o->legacy_max_tokens && strcmp(v, "max_completion_tokens"))
            return fail(err, errlen, LR_E_CONFIG,
                        "max_tokens_field: \"%.40s\" is neither "
                        "max_completion_tokens nor max_tokens", v);
    }
    if (h->cfg_bool(t->section, "stream_usage", &b) == LR_OK)
        o->stream_usage = b;
    if ((o->organization && !header_safe(o->organization)) ||
        (o->project && !header_safe(o->project)))
        return fail(err, errlen, LR_E_CONFIG,
                    "organization/project: control character in value");
    return LR_OK;
}

/*
 * The body is written straight into out as JSON text (openai_json.h),
 * byte-identical to what the cJSON tree of openai_build_ref.h printed;
 * only JSON text the caller embeds (tools, tool_choice, tool_calls) is
 * still parsed and re-printed with cJSON, to validate and normalise it.
 * Checks come in the reference's order, so the same error wins.
 */

/* v printed compactly, then freed. */
static void write_tree(struct jw *w, cJSON *v)
{
    char *s = cJSON_PrintUnformatted(v);
    cJSON_Delete(v);
    if (!s) {
        if (w->rc == LR_OK)
            w->rc = LR_E_NOMEM;
        return;
    }
    jw_raw(w, s, strlen(s));
    cJSON_free(s);
}

static int write_message(struct jw *w, const struct lr_message *m, size_t i,
                         char *err, size_t errlen)
{
    static const char *const roles[] = {"system", "user", "assistant",
                                        "tool"};
    const char *why;
    cJSON *calls = NULL;

    if ((unsigned)m->role > LR_ROLE_TOOL)
        return fail(err, errlen, LR_E_INVALID_ARG,
                    "messages[%zu]: unknown role %d", i, (int)m->role);
    if (m->role == LR_ROLE_ASSISTANT && m->tool_calls_json) {
        calls = parse_checked(m->tool_calls_json, 1, &why);
        if (!calls)
            return fail(err, errlen, LR_E_INVALID_ARG,
                        "messages[%zu].tool_calls_json: %s", i, why);
    }
    if (calls && cJSON_GetArraySize(calls) == 0) {
        cJSON_Delete(calls); /* OpenAI refuses an empty tool_calls */
        calls = NULL;
    }
    jw_lit(w, "{\"role\":");
    jw_str(w, roles[m->role]);
    jw_lit(w, ",\"content\":");
    if (m->content)
        jw_str(w, m->content);
    else if (calls)
        jw_lit(w, "null");
    else
        jw_lit(w, "\"\"");
    if (calls) {
        jw_lit(w, ",\"tool_calls\":");
        write_tree(w, calls);
    }
    if (m->role == LR_ROLE_TOOL && m->tool_call_id) {
        jw_lit(w, ",\"tool_call_id\":");
        jw_str(w, m->tool_call_id);
    }
    jw_char(w, '}');
    return LR_OK;
}

static int write_messages(struct jw *w, const struct lr_chat *c, char *err,
                          size_t errlen)
{
    jw_lit(w, ",\"messages\":[");
    if (c->system) {
        jw_lit(w, "{\"role\":\"system\",\"content\":");
        jw_str(w, c->system);
        jw_char(w, '}');
    }
    if (c->n_messages && !c->messages)
        return fail(err, errlen, LR_E_INVALID_ARG, "messages: NULL array");
    for (size_t i = 0; i < c->n_messages; i++) {
        if (i || c->system)
            jw_char(w, ',');
        int rc = write_message(w, &c->messages[i], i, err, errlen);
        if (rc != LR_OK)
            return rc;
    }
    jw_char(w, ']');
    return LR_OK;
}

/* A sampling hint (top_p, a penalty) when set; it must be finite.
   key is the member with its comma and colon, name its name. */
static int write_hint(struct jw *w, const char *key, const char *name,
                      int has, double v, char *err, size_t errlen)
{
    if (!has)
        return LR_OK;
    if (!isfinite(v))
        return fail(err, errlen, LR_E_INVALID_ARG,
                    "%s: not a finite number", name);
    jw_raw(w, key, strlen(key));
    jw_num(w, v);
    return LR_OK;
}

/* top_p, presence_penalty, frequency_penalty, seed, response_format, in
   the reference's order (ref_add_sampling).  The format is parsed and
   re-printed like tools: a caller other than the core may hand us text
   the core never checked, and it must not break the body. */
static int write_sampling(struct jw *w, const struct lr_chat *c, char *err,
                          size_t errlen)
{
    const char *why;
    int rc;
    if ((rc = write_hint(w, ",\"top_p\":", "top_p", c->has_top_p,
                         c->top_p, err, errlen)) != LR_OK ||
        (rc = write_hint(w, ",\"presence_penalty\":", "presence_penalty",
                         c->has_presence_penalty, c->presence_penalty, err,
                         errlen)) != LR_OK ||
        (rc = write_hint(w, ",\"frequency_penalty\":",
                         "frequency_penalty", c->has_frequency_penalty,
                         c->frequency_penalty, err, errlen)) != LR_OK)
        return rc;
    if (c->has_seed) {
        jw_lit(w, ",\"seed\":");
        jw_i64(w, c->seed);
    }
    if (!c->response_format_json)
        return LR_OK;
    cJSON *f = parse_checked(c->response_format_json, 0, &why);
    if (f && !cJSON_IsObject(f)) {
        cJSON_Delete(f);
        f = NULL;
        why = "not a JSON object";
    }
    if (!f)
        return fail(err, errlen, LR_E_INVALID_ARG,
                    "response_format_json: %s", why);
    jw_lit(w, ",\"response_format\":");
    write_tree(w, f);
    return LR_OK;
}

/* max tokens, temperature, stop, the sampling hints and response
   format, user, stream. */
static int write_options(struct jw *w, const struct lr_chat *c,
                         const struct target_opts *o, char *err,
                         size_t errlen)
{
    if (c->max_tokens > 0) {
        if (o->legacy_max_tokens)
            jw_lit(w, ",\"max_tokens\":");
        else
            jw_lit(w, ",\"max_completion_tokens\":");
        jw_i64(w, c->max_tokens);
    }
    if (c->has_temperature && !isfinite(c->temperature))
        return fail(err, errlen, LR_E_INVALID_ARG,
                    "temperature: not a finite number");
    if (c->has_temperature) {
        jw_lit(w, ",\"temperature\":");
        jw_num(w, c->temperature);
    }
    if (c->n_stop && c->stop) {
        int n = 0; /* only NULL entries: no "stop" at all */
        for (size_t i = 0; i < c->n_stop; i++) {
            if (!c->stop[i])
                continue;
            if (n++)
                jw_char(w, ',');
            else
                jw_lit(w, ",\"stop\":[");
            jw_str(w, c->stop[i]);
        }
        if (n)
            jw_char(w, ']');
    }
    int rc = write_sampling(w, c, err, errlen);
    if (rc != LR_OK)
        return rc;
    if (c->user && *c->user) {
        jw_lit(w, ",\"user\":");
        jw_str(w, c->user);
    }
    if (c->stream) {
        jw_lit(w, ",\"stream\":true");
        if (o->stream_usage)
            jw_lit(w, ",\"stream_options\":{\"include_usage\":true}");
    }
    return LR_OK;
}

static int write_tools(struct jw *w, const struct lr_chat *c, char *err,
                       size_t errlen)
{
    const char *why;
    if (c->tools_json) {
        cJSON *tools = parse_checked(c->tools_json, 1, &why);
        if (!tools)
            return fail(err, errlen, LR_E_INVALID_ARG, "tools_json: %s",
                        why);
        jw_lit(w, ",\"tools\":");
        write_tree(w, tools);
    }
    if (c->tool_choice_json) {
        cJSON *choice = parse_tool_choice(c->tool_choice_json);
        if (!choice)
            return fail(err, errlen, LR_E_INVALID_ARG,
                        "tool_choice_json: not a JSON string or object");
        jw_lit(w, ",\"tool_choice\":");
        write_tree(w, choice);
    }
    return LR_OK;
}

/* On failure out is emptied (the core hands it over empty). */
static int build_body(const struct lr_host *h,
                      const struct lr_target_info *t,
                      const struct lr_chat *c, const struct target_opts *o,
                      struct lr_buf *out, char *err, size_t errlen)
{
    struct jw w;
    int rc;

    jw_init(&w, h, out);
    jw_lit(&w, "{\"model\":");
    jw_str(&w, t->model);
    if ((rc = write_messages(&w, c, err, errlen)) == LR_OK &&
        (rc = write_options(&w, c, o, err, errlen)) == LR_OK &&
        (rc = write_tools(&w, c, err, errlen)) == LR_OK) {
        jw_char(&w, '}');
        rc = jw_done(&w);
    }
    if (rc != LR_OK)
        h->buf_reset(out);
    if (rc == LR_E_NOMEM && err && errlen && !*err)
        fail(err, errlen, rc, "out of memory");
    return rc;
}

/* Appends "Name: value", '\n'-separated from what is already there.
   Pieces rather than buf_printf: vsnprintf was most of what building a
   request cost once the body was written directly. */
static int add_header(const struct lr_host *h, struct lr_buf *hdrs,
                      const char *name, const char *prefix,
                      const char *value)
{
    int rc = LR_OK;
    if (hdrs->len)
        rc |= h->buf_append(hdrs, "\n", 1);
    rc |= h->buf_append(hdrs, name, strlen(name));
    rc |= h->buf_append(hdrs, ": ", 2);
    rc |= h->buf_append(hdrs, prefix, strlen(prefix));
    rc |= h->buf_append(hdrs, value, strlen(value));
    return rc == LR_OK ? LR_OK : LR_E_NOMEM;
}

static int build_headers(const struct lr_host *h,
                         const struct lr_target_info *t,
                         const struct lr_chat *c,
                         const struct target_opts *o, struct lr_buf *hdrs)
{
    int rc = LR_OK;
    if (*t->api_key && o->api_key_header)
        rc |= add_header(h, hdrs, "api-key", "", t->api_key);
    else if (*t->api_key)
        rc |= add_header(h, hdrs, "Authorization", "Bearer ", t->api_key);
    rc |= add_header(h, hdrs, "Content-Type", "", "application/json");
    rc |= add_header(h, hdrs, "Accept", "",
                     c->stream ? "text/event-stream" : "application/json");
    if (o->organization)
        rc |= add_header(h, hdrs, "OpenAI-Organization", "",
                         o->organization);
    if (o->project)
        rc |= add_header(h, hdrs, "OpenAI-Project", "", o->project);
    return rc == LR_OK ? LR_OK : LR_E_NOMEM;
}

static int build_request_c(void *inst,
                           const struct lr_target_info *t,
                           const struct lr_chat *c,
                           struct lr_http_request *out, char *err,
                           size_t errlen)
{
    const struct openai *self = inst;
    struct target_opts o;
    int rc;

    if (err && errlen)
        err[0] = '\0';
    if (!self || !t || !c || !out || !t->base_url)
        return fail(err, errlen, LR_E_INVALID_ARG, "missing argument");
    if (!t->model || !*t->model)
        return fail(err, errlen, LR_E_CONFIG, "model: not set");
    const char *key = t->api_key ? t->api_key : "";
    if (!header_safe(key))
        return fail(err, errlen, LR_E_CONFIG,
                    "api key: contains a control character");
    struct lr_target_info tt = *t;
    tt.api_key = key;
    rc = read_opts(self->host, &tt, &o, err, errlen);
    if (rc == LR_OK)
        rc = build_body(self->host, &tt, c, &o, &out->body, err, errlen);
    if (rc != LR_OK)
        return rc;
    struct base_url u = split_base_url(t->base_url);
    out->method = "POST";
    if (append_url(self->host, &out->url, &u, "/chat/completions",
                   NULL) != LR_OK ||
        build_headers(self->host, &tt, c, &o, &out->headers) != LR_OK)
        return fail(err, errlen, LR_E_NOMEM, "out of memory");
    return LR_OK;
}

/* The whole request in the "C" locale (c_locale.h), whatever the
   application set: cJSON reads numbers through the locale's decimal
   point and swaps only its first byte for '.', so under one of several
   bytes (ps_AF: U+066B) "0.5" in caller JSON (tools, tool_calls,
   response_format) did not parse (found by fuzz/fuzz_build.c). */
static int build_request(void *inst, const struct lr_target_info *t,
                         const struct lr_chat *c,
                         struct lr_http_request *out, char *err,
                         size_t errlen)
{
    locale_t old = c_locale_enter();
    int rc = build_request_c(inst, t, c, out, err, errlen);
    c_locale_leave(old);
    return rc;
}

/* --- Error classification -------------------------------------------- */

/* What an error body says, with "" for absent strings. */
struct err_info {
    const char *type;
    const char *code;
    long code_num;   /* integer code, or an all-digit string code; else 0 */
    const char *message;
};

static void read_err_info(const cJSON *e, const cJSON *root,
                          struct err_info *ei)
{
    const cJSON *code = get(e, "code");
    const char *s;

    ei->type = (s = get_str(e, "type")) ? s : "";
    ei->code = cJSON_IsString(code) ? code->valuestring : "";
    ei->code_num = 0;
    if (cJSON_IsNumber(code) && code->valuedouble >= 0 &&
        code->valuedouble < 1000000)
        ei->code_num = (long)code->valuedouble;
    else if (*ei->code && strspn(ei->code, "0123456789") ==
                              strlen(ei->code) && strlen(ei->code) < 7)
        ei->code_num = atol(ei->code);
    ei->message = (s = get_str(e, "message")) ? s : "";
    /* {"error":"text"}: the error itself is the message */
    if (!*ei->message && (s = get_str(root, "error")))
        ei->message = s;
}

static int is(const struct err_info *e, const char *name)
{
    return strcmp(e->type, name) == 0 || strcmp(e->code, name) == 0;
}

/* The number after word in msg ("Limit 10,000" -> 10000), or -1. */
static int64_t number_after(const char *msg, const char *word)
{
    const char *p = strstr(msg, word);
    int64_t v = 0;
    int digits = 0;
    if (!p)
        return -1;
    for (p += strlen(word); *p; p++) {
        if (*p == ',' && digits && p[1] >= '0' && p[1] <= '9')
            continue;
        if (*p < '0' || *p > '9' || v > INT64_MAX / 100)
            break;
        v = v * 10 + (*p - '0');
        digits++;
    }
    return digits ? v : -1;
}

/* "Request too large ...: Limit L, Requested R" with R > L. */
static int never_fits(const char *msg)
{
    int64_t limit = number_after(msg, "Limit ");
    int64_t requested = number_after(msg, "Requested ");
    return limit >= 0 && requested > limit;
}

static int context_overflow(const struct err_info *e)
{
    return is(e, "context_length_exceeded") ||
           is(e, "exceed_context_size_error") ||
           strcasestr(e->message, "maximum context length") ||
           strcasestr(e->message, "exceeds the available context size");
}

struct class_name {
    const char *name;
    enum lr_status st;
};

/* Type and code names seen without a usable status (in-stream errors,
   200 bodies holding an error).  Auth codes first: OpenAI's 401 has the
   type invalid_request_error. */
static const struct class_name names[] = {
    {"invalid_api_key", LR_E_AUTH},
    {"authentication_error", LR_E_AUTH},
    {"invalid_authentication", LR_E_AUTH},
    {"permission_error", LR_E_AUTH},
    {"permission_denied", LR_E_AUTH},
    {"rate_limit_exceeded", LR_E_RATE_LIMITED},
    {"rate_limit_error", LR_E_RATE_LIMITED},
    {"tokens", LR_E_RATE_LIMITED},
    {"requests", LR_E_RATE_LIMITED},
    {"overloaded", LR_E_OVERLOADED},
    {"overloaded_error", LR_E_OVERLOADED},
    {"engine_overloaded", LR_E_OVERLOADED},
    {"unavailable_error", LR_E_OVERLOADED},
    {"service_unavailable", LR_E_OVERLOADED},
    {"server_error", LR_E_SERVER_ERROR},
    {"api_error", LR_E_SERVER_ERROR},
    {"internal_error", LR_E_SERVER_ERROR},
    {"timeout", LR_E_TIMEOUT},
    {"invalid_request_error", LR_E_BAD_REQUEST},
    {"BadRequestError", LR_E_BAD_REQUEST},
    {"not_found_error", LR_E_BAD_REQUEST},
    {"NotFoundError", LR_E_BAD_REQUEST},
    {"model_not_found", LR_E_BAD_REQUEST},
};

static enum lr_status by_name(const struct err_info *e)
{
    size_t n = sizeof names / sizeof names[0];
    for (size_t i = 0; i < n; i++) {
        if (strcmp(e->code, names[i].name) == 0)
            return names[i].st;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(e->type, names[i].name) == 0)
            return names[i].st;
    }
    return LR_E_SERVER_ERROR;
}

static enum lr_status by_status(long status)
{
    switch (status) {
    case 401:
    case 403:
        return LR_E_AUTH;
    case 402:
        return LR_E_QUOTA_EXHAUSTED;
    case 408:
        return LR_E_TIMEOUT;
    case 409:
        return LR_E_SERVER_ERROR; /* lock conflict: retryable (SDKs do) */
    case 503:
    case 529:
        return LR_E_OVERLOADED;
    default:
        return status >= 500 ? LR_E_SERVER_ERROR : LR_E_BAD_REQUEST;
    }
}

/*
 * The class of an error.  status outside 4xx/5xx (an in-stream error, or
 * a 200 carrying an error) is replaced by an HTTP-like integer code when
 * the body has one (vLLM, llama.cpp), else left to the names.
 */
static enum lr_status classify(long status, const struct err_info *e)
{
    if (status < 400 || status > 599)
        status = e->code_num >= 400 && e->code_num <= 599 ? e->code_num
                                                           : 0;
    int plain_4xx = status >= 400 && status < 500 && status != 401 &&
                    status != 403 && status != 429;
    if (is(e, "insufficient_quota") && (!status || status == 429))
        return LR_E_QUOTA_EXHAUSTED;
    if (context_overflow(e) && (!status || plain_4xx))
        return LR_E_CONTEXT_LENGTH;
    if ((!status || status == 429) && never_fits(e->message))
        return LR_E_BAD_REQUEST;
    if (status == 429)
        return LR_E_RATE_LIMITED;
    if (status)
        return by_status(status);
    return by_name(e);
}

/* --- Retry hints ------------------------------------------------------ */

static int worth_a_hint(enum lr_status st)
{
    return st == LR_E_RATE_LIMITED || st == LR_E_OVERLOADED ||
           st == LR_E_SERVER_ERROR || st == LR_E_TIMEOUT;
}

/* The longest x-ratelimit-reset-* among exhausted dimensions, or -1. */
static int64_t header_hint(const struct lr_host *h,
                           const struct lr_http_response *in)
{
    static const char *const dims[] = {"requests", "tokens"};
    int64_t best = -1, ms;
    char name[64];

    for (size_t i = 0; i < 2; i++) {
        snprintf(name, sizeof name, "x-ratelimit-remaining-%s", dims[i]);
        const char *rem = header(in, name);
        if (!rem || strcmp(rem, "0") != 0)
            continue;
        snprintf(name, sizeof name, "x-ratelimit-reset-%s", dims[i]);
        const char *reset = header(in, name);
        if (reset && h->parse_duration_ms(reset, &ms) == LR_OK && ms > best)
            best = ms;
    }
    return best;
}

/* --- Rate-limit readings (ABI 1.1) ------------------------------------ */

/* A header that is a plain count ("0", "1499"), else -1.  Anything else
   (signs, spaces, fractions, absurd lengths) is not trusted. */
static int64_t header_count(const struct lr_http_response *in,
                            const char *name)
{
    const char *v = header(in, name);
    size_t n = v ? strlen(v) : 0;
    if (n == 0 || n > 15 || strspn(v, "0123456789") != n)
        return -1;
    return (int64_t)strtoll(v, NULL, 10);
}

/* A Go-duration header ("6m0s", "1s", "20ms") in ms, else -1. */
static int64_t header_duration(const struct lr_host *h,
                               const struct lr_http_response *in,
                               const char *name)
{
    const char *v = header(in, name);
    int64_t ms;
    if (!v || h->parse_duration_ms(v, &ms) != LR_OK || ms < 0)
        return -1;
    return ms;
}

/* x-ratelimit-{remaining,reset}-{requests,tokens} into out->rl_*, on
   every response (they mostly come with successes).  A missing or
   malformed header leaves its field at the core's -1. */
static void read_limits(const struct lr_host *h,
                        const struct lr_http_response *in,
                        struct lr_result *out)
{
    int64_t v;
    if ((v = header_count(in, "x-ratelimit-remaining-requests")) >= 0)
        out->rl_remaining_requests = v;
    if ((v = header_count(in, "x-ratelimit-remaining-tokens")) >= 0)
        out->rl_remaining_tokens = v;
    if ((v = header_duration(h, in, "x-ratelimit-reset-requests")) >= 0)
        out->rl_reset_requests_ms = v;
    if ((v = header_duration(h, in, "x-ratelimit-reset-tokens")) >= 0)
        out->rl_reset_tokens_ms = v;
}

/* After "try again in"/"retry after": "1.45s", "20ms", "6 seconds". */
static int64_t hint_at(const struct lr_host *h, const char *p)
{
    char tok[32];
    size_t n = 0;
    int64_t ms;

    while (*p && n < sizeof tok - 1 &&
           (strchr("0123456789.", *p) || (*p >= 'a' && *p <= 'z') ||
            (unsigned char)*p >= 0x80))
        tok[n++] = *p++;
    while (n && tok[n - 1] == '.')
        n--;
    tok[n] = '\0';
    if (n && h->parse_duration_ms(tok, &ms) == LR_OK)
        return ms;
    /* a bare number followed by a unit word */
    char *end;
    double v = c_strtod(tok, &end);
    if (end == tok || *end || !(v >= 0) || v > 8640000.0)
        return -1;
    if (strncmp(p, " second", 7) == 0)
        v *= 1000.0;
    else if (strncmp(p, " millisecond", 12) != 0)
        return -1;
    ms = (int64_t)v; /* rounded up, without libm's ceil() */
    return (double)ms < v ? ms + 1 : ms;
}

/* Last resort: the wait a message asks for in words, or -1. */
static int64_t message_hint(const struct lr_host *h, const char *msg)
{
    static const char *const phrases[] = {"try again in ", "retry in ",
                                          "retry after "};
    for (size_t i = 0; i < 3; i++) {
        const char *p = strcasestr(msg, phrases[i]);
        int64_t ms = p ? hint_at(h, p + strlen(phrases[i])) : -1;
        if (ms >= 0)
            return ms;
    }
    return -1;
}

/* --- Responses ---------------------------------------------------------- */

/* The error object of a body: body.error if an object, a vLLM flat
   error, or (for a non-2xx status, or {"error":"text"}) the body. */
static const cJSON *find_error(const cJSON *root, int is_2xx)
{
    if (!cJSON_IsObject(root))
        return NULL;
    const cJSON *e = get(root, "error");
    if (cJSON_IsObject(e))
        return e;
    const char *obj = get_str(root, "object");
    if (!is_2xx || (obj && strcmp(obj, "error") == 0) ||
        (cJSON_IsString(e) && *e->valuestring))
        return root;
    return NULL;
}

/* Fills out for an error: class, message, hint. */
static int fill_error(const struct lr_host *h, const char *key, long status,
                      const cJSON *root, const cJSON *e,
                      struct lr_result *out)
{
    struct err_info ei;
    char what[256];
    const char *msg;

    read_err_info(e, root, &ei);
    out->error = classify(status, &ei);
    out->finish = LR_FINISH_ERROR;
    msg = ei.message;
    if (!*msg) {
        /* no message: say what the body does say */
        snprintf(what, sizeof what, "%s%s%s", *ei.type ? ei.type : "error",
                 *ei.code ? ": " : "", ei.code);
        msg = what;
    }
    h->buf_reset(&out->error_message);
    int rc = append_clean(h, &out->error_message, msg, strlen(msg),
                          MESSAGE_MAX, key);
    if (worth_a_hint(out->error) && out->retry_after_ms < 0)
        out->retry_after_ms = message_hint(h, ei.message);
    return rc;
}

/* An error or 2xx body that is not usable JSON: status and an excerpt. */
static int fill_unreadable(const struct lr_host *h, const char *key,
                           const struct lr_http_response *in,
                           struct lr_result *out)
{
    int is_2xx = in->status >= 200 && in->status < 300;
    struct err_info none = {"", "", 0, ""};

    out->error = is_2xx ? LR_E_PROTOCOL : classify(in->status, &none);
    out->finish = LR_FINISH_ERROR;
    h->buf_reset(&out->error_message);
    int rc = h->buf_printf(&out->error_message, "HTTP %ld%s", in->status,
                           is_2xx ? " with an unreadable body" : "");
    if (!in->body || !in->body_len)
        return rc | h->buf_printf(&out->error_message, " (empty body)");
    rc |= h->buf_append(&out->error_message, ": ", 2);
    rc |= append_clean(h, &out->error_message, in->body, in->body_len,
                       EXCERPT_MAX, key);
    return rc ? LR_E_NOMEM : LR_OK;
}

static enum lr_finish map_finish(const char *s)
{
    if (!s)
        return LR_FINISH_NONE;
    if (strcmp(s, "stop") == 0)
        return LR_FINISH_STOP;
    if (strcmp(s, "length") == 0)
        return LR_FINISH_LENGTH;
    if (strcmp(s, "tool_calls") == 0 || strcmp(s, "function_call") == 0)
        return LR_FINISH_TOOL_CALLS;
    if (strcmp(s, "content_filter") == 0)
        return LR_FINISH_CONTENT_FILTER;
    return LR_FINISH_OTHER;
}

/* The finish of choice 0, corrected for a refusal (content_filter) and
   for servers that end tool calls with "stop". */
static enum lr_finish final_finish(const char *reason, int refusal,
                                   int has_calls)
{
    enum lr_finish f = map_finish(reason);
    if (refusal)
        return LR_FINISH_CONTENT_FILTER;
    if (has_calls && f == LR_FINISH_STOP)
        return LR_FINISH_TOOL_CALLS;
    return f;
}

/* Choice 0 of choices[]: index 0, or the first without an index. */
static const cJSON *choice_zero(const cJSON *choices)
{
    const cJSON *c;
    if (!cJSON_IsArray(choices))
        return NULL;
    cJSON_ArrayForEach(c, choices)
    {
        const cJSON *idx = get(c, "index");
        if (cJSON_IsObject(c) &&
            (!idx || (cJSON_IsNumber(idx) && idx->valuedouble == 0)))
            return c;
    }
    return NULL;
}

static void read_usage(const cJSON *u, struct lr_result *out)
{
    if (!cJSON_IsObject(u))
        return;
    out->prompt_tokens = get_count(u, "prompt_tokens", out->prompt_tokens);
    out->completion_tokens =
        get_count(u, "completion_tokens", out->completion_tokens);
    out->cached_tokens = get_count(get(u, "prompt_tokens_details"),
                                   "cached_tokens", out->cached_tokens);
    out->reasoning_tokens =
        get_count(get(u, "completion_tokens_details"), "reasoning_tokens",
                  out->reasoning_tokens);
}

/* One OpenAI-shaped tool call; args NULL or "" becomes "{}". */
static cJSON *make_call(const char *id, const char *name, const char *args)
{
    int ok = 1;
    cJSON *call = cJSON_CreateObject();
    cJSON *fn = cJSON_CreateObject();
    put(call, "id", cJSON_CreateString(id ? id : ""), &ok);
    put(call, "type", cJSON_CreateString("function"), &ok);
    put(fn, "name", cJSON_CreateString(name ? name : ""), &ok);
    put(fn, "arguments",
        cJSON_CreateString(args && *args ? args : "{}"), &ok);
    put(call, "function", fn, &ok);
    if (!ok) {
        cJSON_Delete(call);
        return NULL;
    }
    return call;
}

/* A response's call {id, function:{name, arguments}} made canonical:
   arguments that are not a string (some servers send an object) are
   printed back to JSON text. */
static cJSON *normalise_call(const char *id, const cJSON *fn)
{
    const cJSON *args = get(fn, "arguments");
    char *printed = NULL;
    if (args && !cJSON_IsString(args) && !cJSON_IsNull(args)) {
        printed = cJSON_PrintUnformatted(args);
        if (!printed)
            return NULL;
    }
    cJSON *call = make_call(id, get_str(fn, "name"),
                            printed ? printed : get_str(fn, "arguments"));
    cJSON_free(printed);
    return call;
}

/* message.tool_calls (or legacy function_call) as a JSON array text. */
static int write_calls(const struct lr_host *h, const cJSON *msg,
                       struct lr_result *out)
{
    const cJSON *calls = get(msg, "tool_calls"), *c;
    const cJSON *legacy = get(msg, "function_call");
    cJSON *arr = cJSON_CreateArray();
    int ok = 1, rc = LR_OK;

    if (cJSON_IsArray(calls)) {
        cJSON_ArrayForEach(c, calls)
        {
            if (cJSON_IsObject(c))
                put(arr, NULL,
                    normalise_call(get_str(c, "id"), get(c, "function")),
                    &ok);
        }
    }
    if (cJSON_GetArraySize(arr) == 0 && cJSON_IsObject(legacy))
        put(arr, NULL, normalise_call(NULL, legacy), &ok);
    if (ok && cJSON_GetArraySize(arr) > 0)
        rc = print_into(h, arr, &out->tool_calls_json);
    cJSON_Delete(arr);
    return ok ? rc : LR_E_NOMEM;
}

/* message.content: a string, null, or an array of text parts. */
static int write_text(const struct lr_host *h, const cJSON *msg,
                      struct lr_buf *out)
{
    const cJSON *content = get(msg, "content"), *part;
    int rc = LR_OK;
    if (cJSON_IsString(content))
        return h->buf_append(out, content->valuestring,
                             strlen(content->valuestring));
    if (!cJSON_IsArray(content))
        return LR_OK;
    cJSON_ArrayForEach(part, content)
    {
        const char *type = get_str(part, "type");
        const char *text = get_str(part, "text");
        if (text && (!type || strcmp(type, "text") == 0))
            rc |= h->buf_append(out, text, strlen(text));
    }
    return rc ? LR_E_NOMEM : LR_OK;
}

static int fill_success(const struct lr_host *h, const char *key,
                        const struct lr_http_response *in,
                        const cJSON *root, struct lr_result *out)
{
    const cJSON *choice = choice_zero(get(root, "choices"));
    const char *model = get_str(root, "model");
    int rc = LR_OK;

    if (model)
        rc |= h->buf_append(&out->model, model, strlen(model));
    read_usage(get(root, "usage"), out);
    if (!choice) {
        out->error = LR_E_PROTOCOL;
        out->finish = LR_FINISH_ERROR;
        rc |= h->buf_printf(&out->error_message,
                            "HTTP %ld without choices: ", in->status);
        return rc | append_clean(h, &out->error_message, in->body,
                                 in->body_len, EXCERPT_MAX, key);
    }
    const cJSON *msg = get(choice, "message");
    const char *refusal = get_str(msg, "refusal");
    rc |= write_text(h, msg, &out->text);
    rc |= write_calls(h, msg, out);
    out->finish = final_finish(get_str(choice, "finish_reason"),
                               refusal && *refusal,
                               out->tool_calls_json.len > 0);
    return rc ? LR_E_NOMEM : LR_OK;
}

/* --- Fast path for a plain success --------------------------------- */

/*
 * Most answers are one choice with a text message and usage.  Those are
 * read here with a small strict scanner straight from the body, without
 * building a cJSON tree (the tree was the largest user-space cost of a
 * request).  The scanner only says "handled" when its result is the one
 * fill_success would give: anything else (tool calls, content parts, \u
 * escapes, several choices, an error member, a repeated key, types other
 * than expected, nesting over FAST_DEPTH) returns -1 before writing
 * anything, and the cJSON path reads the body as before.
 */
#define FAST_DEPTH 32

struct scan {
    const char *p, *end;
};

struct span {
    const char *p;       /* raw string inside the quotes; NULL: absent */
    size_t n;
    int esc;             /* has backslash escapes */
};

struct fast {
    struct span model, content, finish;
    int refusal;         /* non-empty refusal string */
    int64_t prompt, completion, cached, reasoning;
    unsigned seen;       /* bit per key read, to refuse repeats */
};

enum { SEEN_MODEL = 1, SEEN_CHOICES = 2, SEEN_USAGE = 4, SEEN_OBJECT = 8,
       SEEN_INDEX = 16, SEEN_MESSAGE = 32, SEEN_FINISH = 64,
       SEEN_CONTENT = 128, SEEN_REFUSAL = 256, SEEN_PT = 512,
       SEEN_CT = 1024, SEEN_PTD = 2048, SEEN_CTD = 4096, SEEN_CACHED = 8192,
       SEEN_REASONING = 16384 };

static void sc_ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' ||
                             *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int sc_char(struct scan *s, char c)
{
    sc_ws(s);
    if (s->p >= s->end || *s->p != c)
        return -1;
    s->p++;
    return 0;
}

static int sc_peek(struct scan *s, char c)
{
    sc_ws(s);
    return s->p < s->end && *s->p == c;
}

static int sc_word(struct scan *s, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n) != 0)
        return -1;
    s->p += n;
    return 0;
}

/* Bytes that end a plain run inside a string: '"', '\\' and controls. */
static const unsigned char stops[256] = {
    [0] = 1, [1] = 1, [2] = 1, [3] = 1, [4] = 1, [5] = 1, [6] = 1, [7] = 1,
    [8] = 1, [9] = 1, [10] = 1, [11] = 1, [12] = 1, [13] = 1, [14] = 1,
    [15] = 1, [16] = 1, [17] = 1, [18] = 1, [19] = 1, [20] = 1, [21] = 1,
    [22] = 1, [23] = 1, [24] = 1, [25] = 1, [26] = 1, [27] = 1, [28] = 1,
    [29] = 1, [30] = 1, [31] = 1, ['"'] = 1, ['\\'] = 1};

/* Skip whole 8-byte words of plain string bytes at once (a word with a
   '"', a '\\' or a control byte stops it; the exact test is the
   byte loop's).  Bit tricks from "Bit Twiddling Hacks" (haszero,
   hasless), exact as to whether such a byte is present. */
static const char *skip_plain(const char *p, const char *end)
{
    const uint64_t ones = 0x0101010101010101ull;
    const uint64_t highs = 0x8080808080808080ull;
    while (end - p >= 8) {
        uint64_t x;
        memcpy(&x, p, 8);
        uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
        uint64_t hit = ((q - ones) & ~q) | ((b - ones) & ~b) |
                       ((x - ones * 0x20) & ~x);
        if (hit & highs)
            break;
        p += 8;
    }
    return p;
}

/* The first stop byte at or after p, or end.  Keys and short values end
   within a few bytes: bytewise first, whole words only for a long run
   (the text of an answer).  Locals, not s->p: a char store may alias. */
static const char *to_stop(const char *p, const char *end)
{
    const char *quick = end - p > 16 ? p + 16 : end;
    while (p < quick && !stops[(unsigned char)*p])
        p++;
    if (p < quick || p == end)
        return p;
    p = skip_plain(p, end);
    while (p < end && !stops[(unsigned char)*p])
        p++;
    return p;
}

/* A string with only the short escapes (no \u, no control bytes). */
static int sc_string(struct scan *s, struct span *out)
{
    if (sc_char(s, '"'))
        return -1;
    out->p = s->p;
    out->esc = 0;
    const char *p = s->p, *end = s->end;
    while ((p = to_stop(p, end)) < end) {
        unsigned char c = (unsigned char)*p;
        if (c == '"') {
            out->n = (size_t)(p - out->p);
            s->p = p + 1;
            return 0;
        }
        if (c < 0x20)
            return -1;
        /* c is '\\' */
        if (++p >= end || !*p || !strchr("\"\\/bfnrt", *p))
            return -1;
        out->esc = 1;
        p++;
    }
    return -1;
}

static int digits(struct scan *s)
{
    const char *b = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        s->p++;
    return s->p > b ? 0 : -1;
}

/* A number by the JSON grammar; its value through strtod ("C" locale). */
static int sc_number(struct scan *s, double *v)
{
    sc_ws(s);
    const char *b = s->p;
    if (s->p < s->end && *s->p == '-')
        s->p++;
    if (s->p < s->end && *s->p == '0')
        s->p++;
    else if (digits(s))
        return -1;
    if (s->p < s->end && *s->p == '.' && (s->p++, digits(s)))
        return -1;
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (digits(s))
            return -1;
    }
    char tmp[64];
    size_t n = (size_t)(s->p - b);
    if (n >= sizeof tmp)
        return -1;
    if (!v)
        return 0;
    /* Token counts are plain integers: exact as doubles up to 15
       digits, so no strtod needed. */
    size_t k = 0;
    double d = 0;
    while (k < n && b[k] >= '0' && b[k] <= '9')
        d = d * 10 + (b[k++] - '0');
    if (k == n && n <= 15) {
        *v = d;
        return 0;
    }
    memcpy(tmp, b, n);
    tmp[n] = '\0';
    *v = c_strtod(tmp, NULL);
    return 0;
}

static int sc_skip(struct scan *s, int depth);

/* Skip the rest of an object or array whose opener was read. */
static int sc_skip_items(struct scan *s, char close, int depth)
{
    if (sc_peek(s, close))
        return sc_char(s, close);
    for (;;) {
        if (close == '}') {
            struct span k;
            if (sc_string(s, &k) || sc_char(s, ':'))
                return -1;
        }
        if (sc_skip(s, depth + 1))
            return -1;
        if (sc_peek(s, ','))
            s->p++;
        else
            return sc_char(s, close);
    }
}

static int sc_skip(struct scan *s, int depth)
{
    struct span str;
    if (depth > FAST_DEPTH)
        return -1;
    sc_ws(s);
    if (s->p >= s->end)
        return -1;
    switch (*s->p) {
    case '"':
        return sc_string(s, &str);
    case '{':
    case '[':
        s->p++;
        return sc_skip_items(s, s->p[-1] == '{' ? '}' : ']', depth);
    case 't':
        return sc_word(s, "true");
    case 'f':
        return sc_word(s, "false");
    case 'n':
        return sc_word(s, "null");
    default:
        return sc_number(s, NULL);
    }
}

/* k is the key name, a string literal (no escapes). */
#define key_is(k, name) \
    (!(k)->esc && (k)->n == sizeof(name) - 1 && \
     memcmp((k)->p, name, sizeof(name) - 1) == 0)

/* Mark key bit as seen; -1 when it was already (a repeated key). */
static int first(struct fast *f, unsigned bit)
{
    if (f->seen & bit)
        return -1;
    f->seen |= bit;
    return 0;
}

typedef int (*member_fn)(struct scan *s, const struct span *key,
                         struct fast *f, int depth);

/* An object: each member's value goes to fn, which reads or skips it. */
static int sc_object(struct scan *s, member_fn fn, struct fast *f, int depth)
{
    if (depth > FAST_DEPTH || sc_char(s, '{'))
        return -1;
    if (sc_peek(s, '}'))
        return sc_char(s, '}');
    for (;;) {
        struct span k;
        if (sc_string(s, &k) || sc_char(s, ':') || fn(s, &k, f, depth))
            return -1;
        if (sc_peek(s, ','))
            s->p++;
        else
            return sc_char(s, '}');
    }
}

/* A token count: a number (count_of's rules) or anything else, which
   leaves the default as get_count does. */
static int sc_count(struct scan *s, int64_t *out)
{
    double d;
    sc_ws(s);
    if (s->p < s->end && (*s->p == '-' || (*s->p >= '0' && *s->p <= '9'))) {
        if (sc_number(s, &d))
            return -1;
        *out = count_of(d, *out);
        return 0;
    }
    return sc_skip(s, FAST_DEPTH);
}

static int on_details(struct scan *s, const struct span *k, struct fast *f,
                      int depth, const char *name, unsigned bit,
                      int64_t *out)
{
    if (!k->esc && k->n == strlen(name) && memcmp(k->p, name, k->n) == 0)
        return first(f, bit) || sc_count(s, out);
    return sc_skip(s, depth + 1);
}

static int on_ptd(struct scan *s, const struct span *k, struct fast *f,
                  int depth)
{
    return on_details(s, k, f, depth, "cached_tokens", SEEN_CACHED,
                      &f->cached);
}

static int on_ctd(struct scan *s, const struct span *k, struct fast *f,
                  int depth)
{
    return on_details(s, k, f, depth, "reasoning_tokens", SEEN_REASONING,
                      &f->reasoning);
}

/* A details object, or a value that is not one (ignored, as get() on a
   non-object gives NULL). */
static int sc_details(struct scan *s, member_fn fn, struct fast *f,
                      int depth)
{
    return sc_peek(s, '{') ? sc_object(s, fn, f, depth + 1)
                           : sc_skip(s, depth + 1);
}

static int on_usage(struct scan *s, const struct span *k, struct fast *f,
                    int depth)
{
    if (key_is(k, "prompt_tokens"))
        return first(f, SEEN_PT) || sc_count(s, &f->prompt);
    if (key_is(k, "completion_tokens"))
        return first(f, SEEN_CT) || sc_count(s, &f->completion);
    if (key_is(k, "prompt_tokens_details"))
        return first(f, SEEN_PTD) || sc_details(s, on_ptd, f, depth);
    if (key_is(k, "completion_tokens_details"))
        return first(f, SEEN_CTD) || sc_details(s, on_ctd, f, depth);
    return sc_skip(s, depth + 1);
}

/* null, or a string into sp. */
static int sc_opt_string(struct scan *s, struct span *sp)
{
    if (sc_peek(s, 'n'))
        return sc_word(s, "null");
    return sc_string(s, sp);
}

static int on_message(struct scan *s, const struct span *k, struct fast *f,
                      int depth)
{
    if (key_is(k, "content"))
        return first(f, SEEN_CONTENT) || sc_opt_string(s, &f->content);
    if (key_is(k, "refusal")) {
        struct span r = {NULL, 0, 0};
        if (first(f, SEEN_REFUSAL) || sc_opt_string(s, &r))
            return -1;
        f->refusal = r.p && r.n;
        return 0;
    }
    /* Calls, present and not null, are for the full path. */
    if (key_is(k, "tool_calls") || key_is(k, "function_call"))
        return sc_peek(s, 'n') ? sc_word(s, "null") : -1;
    return sc_skip(s, depth + 1);
}

static int on_choice(struct scan *s, const struct span *k, struct fast *f,
                     int depth)
{
    if (key_is(k, "index")) {
        double d;
        return first(f, SEEN_INDEX) || sc_number(s, &d) || d != 0 ? -1 : 0;
    }
    if (key_is(k, "message"))
        return first(f, SEEN_MESSAGE) || sc_object(s, on_message, f,
                                                   depth + 1);
    if (key_is(k, "finish_reason")) {
        if (first(f, SEEN_FINISH))
            return -1;
        return sc_peek(s, 'n') ? sc_word(s, "null")
                               : sc_string(s, &f->finish);
    }
    return sc_skip(s, depth + 1);
}

static int on_root(struct scan *s, const struct span *k, struct fast *f,
                   int depth)
{
    if (key_is(k, "model")) {
        if (first(f, SEEN_MODEL))
            return -1;
        return sc_peek(s, '"') ? sc_string(s, &f->model)
                               : sc_skip(s, depth + 1);
    }
    if (key_is(k, "choices")) {
        /* Exactly one choice, an object. */
        if (first(f, SEEN_CHOICES) || sc_char(s, '[') ||
            sc_object(s, on_choice, f, depth + 2))
            return -1;
        return sc_char(s, ']');
    }
    if (key_is(k, "usage"))
        return first(f, SEEN_USAGE) || sc_object(s, on_usage, f, depth + 1);
    if (key_is(k, "object")) {
        struct span o = {NULL, 0, 0};
        if (first(f, SEEN_OBJECT) || !sc_peek(s, '"') || sc_string(s, &o))
            return -1;
        return key_is(&o, "error") ? -1 : 0;
    }
    if (key_is(k, "error"))
        return -1;
    return sc_skip(s, depth + 1);
}

/* Append a scanned string, decoding its short escapes. */
static int put_span(const struct lr_host *h, struct lr_buf *out,
                    const struct span *sp)
{
    if (!sp->esc)
        return h->buf_append(out, sp->p, sp->n);
    int rc = LR_OK;
    const char *p = sp->p, *end = sp->p + sp->n, *run = p;
    while (p < end) {
        if (*p != '\\') {
            p++;
            continue;
        }
        rc |= h->buf_append(out, run, (size_t)(p - run));
        char c = p[1];
        char d = c == 'b' ? '\b' : c == 'f' ? '\f' : c == 'n' ? '\n'
                 : c == 'r' ? '\r' : c == 't' ? '\t' : c;
        rc |= h->buf_append(out, &d, 1);
        p += 2;
        run = p;
    }
    rc |= h->buf_append(out, run, (size_t)(end - run));
    return rc ? LR_E_NOMEM : LR_OK;
}

/* 1: out filled from a plain success; 0: not handled, out untouched;
   -LR_E_NOMEM: out of memory while filling out. */
static int fast_success(const struct lr_host *h,
                        const struct lr_http_response *in,
                        struct lr_result *out)
{
    struct fast f = {.prompt = out->prompt_tokens,
                     .completion = out->completion_tokens,
                     .cached = out->cached_tokens,
                     .reasoning = out->reasoning_tokens};
    if (!in->body)
        return 0;
    struct scan s = {in->body, in->body + in->body_len};
    if (sc_object(&s, on_root, &f, 0))
        return 0;
    sc_ws(&s);
    if (s.p != s.end || !(f.seen & SEEN_CHOICES))
        return 0;
    int rc = LR_OK;
    if (f.model.p)
        rc |= put_span(h, &out->model, &f.model);
    if (f.content.p)
        rc |= put_span(h, &out->text, &f.content);
    out->prompt_tokens = f.prompt;
    out->completion_tokens = f.completion;
    out->cached_tokens = f.cached;
    out->reasoning_tokens = f.reasoning;
    char reason[32] = "";
    if (f.finish.p && f.finish.n < sizeof reason && !f.finish.esc) {
        memcpy(reason, f.finish.p, f.finish.n);
        reason[f.finish.n] = '\0';
    }
    else if (f.finish.p)
        memcpy(reason, "?", 2);    /* something else: LR_FINISH_OTHER */
    out->finish = final_finish(f.finish.p ? reason : NULL, f.refusal, 0);
    return rc ? -LR_E_NOMEM : 1;
}

static int parse_response(void *inst, const struct lr_target_info *t,
                          const struct lr_http_response *in,
                          struct lr_result *out)
{
    const struct openai *self = inst;
    if (!self || !in || !out)
        return LR_E_INVALID_ARG;
    const struct lr_host *h = self->host;
    const char *key = t && t->api_key ? t->api_key : NULL;
    const char *rid = header(in, "x-request-id");
    int is_2xx = in->status >= 200 && in->status < 300;
    int rc = LR_OK;

    out->error = LR_OK;
    out->retry_after_ms = -1;
    out->prompt_tokens = out->completion_tokens = -1;
    out->cached_tokens = out->reasoning_tokens = 0;
    if (rid)
        rc = h->buf_append(&out->request_id, rid, strlen(rid));
    if (is_2xx) {
        int fast = fast_success(h, in, out);
        if (fast) {
            read_limits(h, in, out);
            return rc || fast < 0 ? LR_E_NOMEM : LR_OK;
        }
    }
    cJSON *root = parse_json(in->body, in->body_len);
    const cJSON *e = find_error(root, is_2xx);
    if (!cJSON_IsObject(root))
        rc |= fill_unreadable(h, key, in, out);
    else if (e)
        rc |= fill_error(h, key, in->status, root, e, out);
    else
        rc |= fill_success(h, key, in, root, out);
    read_limits(h, in, out);
    if (out->error != LR_OK && worth_a_hint(out->error)) {
        int64_t hint = header_hint(h, in);
        if (hint >= 0)
            out->retry_after_ms = hint;
    }
    cJSON_Delete(root);
    return rc ? LR_E_NOMEM : LR_OK;
}

/* --- Streaming -------------------------------------------------------- */

/* A plugin-owned growable string (host buffers cannot be freed here). */
struct str {
    char *p;
    size_t len, cap;
};

static int str_add(struct str *s, const char *text, size_t n)
{
    if (n >= SIZE_MAX / 2 - s->len)
        return LR_E_NOMEM;
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 32;
        while (cap < s->len + n + 1)
            cap *= 2;
        char *p = realloc(s->p, cap);
        if (!p)
            return LR_E_NOMEM;
        s->p = p;
        s->cap = cap;
    }
    memcpy(s->p + s->len, text, n);
    s->len += n;
    s->p[s->len] = '\0';
    return LR_OK;
}

struct call {
    double index;
    struct str id, name, args;
};

struct stream {
    int started;
    int refusal;
    int too_many;       /* a call beyond MAX_CALLS was dropped */
    struct call *calls; /* sorted by index */
    size_t n_calls, cap_calls;
};

static int stream_begin(void *inst, void **state)
{
    if (!state)
        return LR_E_INVALID_ARG;
    *state = calloc(1, sizeof(struct stream));
    return *state ? LR_OK : LR_E_NOMEM;
}

static void stream_end(void *inst, void *state)
{
    struct stream *st = state;
    if (!st)
        return;
    for (size_t i = 0; i < st->n_calls; i++) {
        free(st->calls[i].id.p);
        free(st->calls[i].name.p);
        free(st->calls[i].args.p);
    }
    free(st->calls);
    free(st);
}

/* The call with this index, inserted in order when new; NULL when out
   of memory or over MAX_CALLS (then too_many is set). */
static struct call *call_at(struct stream *st, double index)
{
    size_t i = 0;
    while (i < st->n_calls && st->calls[i].index < index)
        i++;
    if (i < st->n_calls && st->calls[i].index == index)
        return &st->calls[i];
    if (st->n_calls == MAX_CALLS) {
        st->too_many = 1;
        return NULL;
    }
    if (st->n_calls == st->cap_calls) {
        size_t cap = st->cap_calls ? st->cap_calls * 2 : 4;
        struct call *c = realloc(st->calls, cap * sizeof *c);
        if (!c)
            return NULL;
        st->calls = c;
        st->cap_calls = cap;
    }
    memmove(&st->calls[i + 1], &st->calls[i],
            (st->n_calls - i) * sizeof st->calls[0]);
    memset(&st->calls[i], 0, sizeof st->calls[0]);
    st->calls[i].index = index;
    st->n_calls++;
    return &st->calls[i];
}

/* id and name come whole in a call's first fragment: keep the first. */
static int set_once(struct str *s, const char *v)
{
    return v && !s->len ? str_add(s, v, strlen(v)) : LR_OK;
}

/* One delta.tool_calls[] fragment, or (legacy) a function_call object
   taken as call 0.  A fragment without index continues the last call,
   or opens the next one when it brings an id. */
static int add_fragment(struct stream *st, const cJSON *frag, int legacy)
{
    const cJSON *idx = get(frag, "index");
    const cJSON *fn = legacy ? frag : get(frag, "function");
    const char *id = get_str(frag, "id");
    const char *args = get_str(fn, "arguments");
    double index = 0;

    if (cJSON_IsNumber(idx))
        index = idx->valuedouble;
    else if (st->n_calls && !legacy)
        index = st->calls[st->n_calls - 1].index + (id ? 1 : 0);
    struct call *c = call_at(st, index);
    if (!c)
        return st->too_many ? LR_OK : LR_E_NOMEM;
    int rc = set_once(&c->id, legacy ? NULL : id);
    rc |= set_once(&c->name, get_str(fn, "name"));
    if (args)
        rc |= str_add(&c->args, args, strlen(args));
    return rc ? LR_E_NOMEM : LR_OK;
}

/* Writes the accumulated calls into acc (replacing what was there). */
static int flush_calls(const struct lr_host *h, const struct stream *st,
                       struct lr_result *acc)
{
    int ok = 1, rc = LR_OK;
    if (!st->n_calls)
        return LR_OK;
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < st->n_calls; i++) {
        const struct call *c = &st->calls[i];
        put(arr, NULL, make_call(c->id.p, c->name.p, c->args.p), &ok);
    }
    h->buf_reset(&acc->tool_calls_json);
    if (ok)
        rc = print_into(h, arr, &acc->tool_calls_json);
    cJSON_Delete(arr);
    return ok ? rc : LR_E_NOMEM;
}

static int read_delta(const struct lr_host *h, struct stream *st,
                      const cJSON *d, struct lr_buf *delta)
{
    const char *content = get_str(d, "content");
    const char *refusal = get_str(d, "refusal");
    const cJSON *calls = get(d, "tool_calls"), *frag;
    const cJSON *legacy = get(d, "function_call");
    int rc = LR_OK;

    if (content && *content)
        rc |= h->buf_append(delta, content, strlen(content));
    if (refusal && *refusal)
        st->refusal = 1;
    if (cJSON_IsArray(calls)) {
        cJSON_ArrayForEach(frag, calls)
        {
            if (cJSON_IsObject(frag))
                rc |= add_fragment(st, frag, 0);
        }
    }
    else if (cJSON_IsObject(legacy))
        rc |= add_fragment(st, legacy, 1);
    return rc ? LR_E_NOMEM : LR_OK;
}

static int stream_chunk(const struct lr_host *h, struct stream *st,
                        const cJSON *root, struct lr_result *acc,
                        struct lr_buf *delta)
{
    const char *model = get_str(root, "model");
    const cJSON *choice = choice_zero(get(root, "choices"));
    int rc = LR_OK;

    if (model && *model && !acc->model.len)
        rc |= h->buf_append(&acc->model, model, strlen(model));
    read_usage(get(root, "usage"), acc); /* null on all but the last */
    if (!choice)
        return rc ? LR_E_NOMEM : LR_OK; /* the choices:[] usage chunk */
    rc |= read_delta(h, st, get(choice, "delta"), delta);
    if (st->too_many && acc->error == LR_OK) {
        acc->error = LR_E_PROTOCOL;
        acc->finish = LR_FINISH_ERROR;
        rc |= h->buf_printf(&acc->error_message,
                            "more than %d tool calls in one stream",
                            MAX_CALLS);
    }
    const char *reason = get_str(choice, "finish_reason");
    if (reason) {
        acc->finish = final_finish(reason, st->refusal, st->n_calls > 0);
        rc |= flush_calls(h, st, acc);
    }
    return rc ? LR_E_NOMEM : LR_OK;
}

/* Data that is not a JSON object where a chunk should be. */
static int stream_garbage(const struct lr_host *h,
                          const struct lr_sse_event *ev,
                          struct lr_result *acc)
{
    acc->error = LR_E_PROTOCOL;
    acc->finish = LR_FINISH_ERROR;
    h->buf_reset(&acc->error_message);
    int rc = h->buf_printf(&acc->error_message, "unreadable stream event: ");
    rc |= append_clean(h, &acc->error_message, ev->data, ev->data_len,
                       EXCERPT_MAX, NULL);
    return rc ? LR_E_NOMEM : LR_OK;
}

/* "[DONE]", whatever whitespace a server puts around it. */
static int is_done(const char *data, size_t len)
{
    size_t lead = strspn(data, " \t\r\n");
    if (lead > len)
        return 0;
    data += lead;
    len -= lead;
    while (len && (data[len - 1] == ' ' || data[len - 1] == '\t' ||
                   data[len - 1] == '\r' || data[len - 1] == '\n'))
        len--;
    return len == 6 && memcmp(data, "[DONE]", 6) == 0;
}

static int stream_event(void *inst, void *state,
                        const struct lr_sse_event *ev,
                        struct lr_result *acc, struct lr_buf *delta)
{
    const struct openai *self = inst;
    struct stream *st = state;
    if (!self || !st || !ev || !acc || !delta)
        return LR_E_INVALID_ARG;
    const struct lr_host *h = self->host;
    const char *data = ev->data ? ev->data : "";
    size_t len = ev->data ? ev->data_len : 0;
    int rc;

    if (!st->started) {
        /* the core zeroed acc; "unknown" is -1 here */
        acc->retry_after_ms = -1;
        acc->prompt_tokens = acc->completion_tokens = -1;
        st->started = 1;
    }
    if (is_done(data, len))
        return flush_calls(h, st, acc) == LR_OK ? LR_STREAM_DONE
                                                : LR_E_NOMEM;
    if (strspn(data, " \t\r\n") == len)
        return LR_OK; /* an empty data: line carries nothing */
    cJSON *root = parse_json(data, len);
    int error_event = ev->event && strcmp(ev->event, "error") == 0;
    const cJSON *e = find_error(root, !error_event);
    if (!cJSON_IsObject(root))
        rc = stream_garbage(h, ev, acc);
    else if (e)
        rc = fill_error(h, NULL, 0, root, e, acc);
    else
        rc = stream_chunk(h, st, root, acc, delta);
    cJSON_Delete(root);
    return rc;
}

/* --- Instance and descriptor -------------------------------------------- */

/* The provider's own section holds nothing: per-target keys are read at
   build time from the target's section. */
/* The target's own keys, checked when the configuration loads so that a
   bad value is reported at its FILE:LINE (`llmroute check` included)
   rather than by every request.  No API key is known yet (NULL), so a
   bad auth_header value is never echoed: it might be a pasted key. */
static int check_section(const struct lr_host *h,
                         const struct lr_section *s, char *err,
                         size_t errlen)
{
    struct lr_target_info t = {.section = s, .base_url = "",
                               .api_key = NULL};
    struct target_opts o;
    return read_opts(h, &t, &o, err, errlen);
}

static int create(const struct lr_section *section,
                  const struct lr_host *host, void **inst, char *err,
                  size_t errlen)
{
    if (!host || !inst)
        return fail(err, errlen, LR_E_INVALID_ARG, "missing argument");
    if (section) {
        int rc = check_section(host, section, err, errlen);
        if (rc != LR_OK)
            return rc;
    }
    struct openai *self = calloc(1, sizeof *self);
    if (!self)
        return fail(err, errlen, LR_E_NOMEM, "out of memory");
    self->host = host;
    *inst = self;
    return LR_OK;
}

static void destroy(void *inst)
{
    free(inst);
}

static const struct lr_provider_ops ops = {
    .default_base_url = "https://api.openai.com/v1",
    .target_keys = target_keys,
    .n_target_keys = sizeof target_keys / sizeof target_keys[0],
    .build_request = build_request,
    .parse_response = parse_response,
    .stream_begin = stream_begin,
    .stream_event = stream_event,
    .stream_end = stream_end,
};

static const struct lr_plugin_desc desc = {
    LR_PLUGIN_HEADER,
    .name = "openai",
    .kind = LR_PLUGIN_PROVIDER,
    .version = "1.0.0",
    .create = create,
    .destroy = destroy,
    .ops = &ops,
    .ops_size = (uint32_t)sizeof ops,
};

LR_PLUGIN_EXPORT const struct lr_plugin_desc *lr_plugin_entry(void);

LR_PLUGIN_EXPORT const struct lr_plugin_desc *lr_plugin_entry(void)
{
    return &desc;
}
