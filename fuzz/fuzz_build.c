/*
 * fuzz_build.c - libFuzzer target: the three providers' build_request()
 * (plugins/provider_{openai,anthropic,gemini}.c, linked in with their
 * entry points renamed fuzz_entry_NAME), one struct lr_chat decoded from
 * the input through each, on the test suite's fake host.
 *
 * Input format (mostly text, so seeds are readable):
 *
 *   byte 0             flags: 0x01 stream, 0x02 openai max_tokens_field =
 *                      max_tokens, 0x04 openai stream_usage = false,
 *                      0x08 a NULL entry first in the stop list,
 *                      0x10 no API key, 0x20 build again under a
 *                      comma-decimal LC_NUMERIC, 0x40 under one with a
 *                      multi-byte decimal point (ps_AF)
 *   then fields        TAG VALUE NUL (the last NUL may be left out)
 *
 * Tags of the chat: s system, u user, T tools_json, C tool_choice_json,
 * F response_format_json, x one stop sequence (repeatable); numbers,
 * each setting its has_ flag: M max_tokens, S seed (int64, strtoll),
 * t temperature, p top_p, r presence_penalty, f frequency_penalty
 * (double, strtod: "nan", "inf", "1e999", "0x1p-1074" all work); a
 * number tag followed by '#' takes the next 8 raw bytes instead (host
 * byte order, no NUL after), so any bit pattern is reachable.
 * Messages: a digit starts one with that role (0 system .. 3 tool, 4..9
 * unknown) and the value as content; then c tool_calls_json, i
 * tool_call_id, n name apply to the last message, N makes its content
 * NULL.  Target: m model (else each provider's usual one), B base_url;
 * section keys o organization, j project, h auth_header (openai),
 * v anthropic_version, b anthropic_beta, k default_max_tokens
 * (anthropic), g api_version (gemini).  Unknown tags are skipped.
 *
 * Invariants, abort on a break (see docs/reliability.md):
 *  - LR_OK, or an error with a non-empty reason without the API key;
 *  - on LR_OK: the body is one JSON value with no NUL, the URL is
 *    non-empty (and has no space or control byte unless base_url did),
 *    every header line is "Name: value" with a name that provider sends,
 *    once, and a value without control bytes (so nothing was injected),
 *    and the key is in the auth header only;
 *  - openai: the fast writer (openai_json.h) gives the same status,
 *    reason and body bytes as the cJSON reference (openai_build_ref.h),
 *    and no body on failure.  A configuration refusal (LR_E_CONFIG: the
 *    section or model, read before the body) is not compared: the
 *    reference builds the body only;
 *  - flags 0x20/0x40: the same status, reason, URL, headers and body
 *    under that locale as under "C" (skipped when no such locale can be
 *    set up, see tests/support/comma_locale.h).
 * Key checks are skipped when the input itself holds the key (libFuzzer
 * learns compared strings, so it will put the key into a message).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../plugins/openai_build_ref.h"

#include <cJSON.h>

#include "buf.h"
#include "llmroute_plugin.h"
#include "support/comma_locale.h"
#include "support/fake_host.h"
#include "support/provider_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

const struct lr_plugin_desc *fuzz_entry_openai(void);
const struct lr_plugin_desc *fuzz_entry_anthropic(void);
const struct lr_plugin_desc *fuzz_entry_gemini(void);

#define KEY "sk-fuzz-KEY-7d2e91c4"
#define MAX_MSGS 64
#define MAX_STOP 8

enum {
    F_STREAM = 0x01,
    F_LEGACY = 0x02,
    F_NO_USAGE = 0x04,
    F_NULL_STOP = 0x08,
    F_NO_KEY = 0x10,
    F_COMMA = 0x20,
    F_MB_POINT = 0x40
};

/* A section key an input may set, by tag. */
static const struct {
    char tag;
    const char *key;
} sect_tags[] = {
    {'o', "organization"}, {'j', "project"},        {'h', "auth_header"},
    {'v', "anthropic_version"}, {'b', "anthropic_beta"},
    {'k', "default_max_tokens"}, {'g', "api_version"},
};
#define N_SECT (sizeof sect_tags / sizeof sect_tags[0])

struct spec {
    unsigned flags;
    struct lr_chat chat;
    struct lr_message msgs[MAX_MSGS];
    const char *stop[MAX_STOP + 1];
    const char *model;
    const char *base_url;
    const char *sect[N_SECT];
    int key_in_input;
    char *text;          /* the input, NUL-terminated, cut in place */
};

/* One field's value: up to the next NUL, or 8 raw bytes after '#' for a
   number; *p moves past it. */
static const char *take(char **p, char *end, int number, char raw[8])
{
    char *v = *p;
    if (number && v < end && *v == '#') {
        size_t n = (size_t)(end - v - 1) < 8 ? (size_t)(end - v - 1) : 8;
        memset(raw, 0, 8);
        memcpy(raw, v + 1, n);
        *p = v + 1 + n;
        return NULL;
    }
    char *nul = memchr(v, '\0', (size_t)(end - v));
    *p = nul ? nul + 1 : end;
    return v;
}

static int64_t int_of(const char *v, const char raw[8])
{
    int64_t n;
    if (!v) {
        memcpy(&n, raw, sizeof n);
        return n;
    }
    return (int64_t)strtoll(v, NULL, 0);
}

static double dbl_of(const char *v, const char raw[8])
{
    double d;
    if (!v) {
        memcpy(&d, raw, sizeof d);
        return d;
    }
    return strtod(v, NULL);
}

/* A number tag into the chat; 0 when tag is not one. */
static int set_number(struct lr_chat *c, char tag, const char *v,
                      const char raw[8])
{
    switch (tag) {
    case 'M': c->max_tokens = int_of(v, raw); return 1;
    case 'S': c->seed = int_of(v, raw); c->has_seed = 1; return 1;
    case 't':
        c->temperature = dbl_of(v, raw);
        c->has_temperature = 1;
        return 1;
    case 'p': c->top_p = dbl_of(v, raw); c->has_top_p = 1; return 1;
    case 'r':
        c->presence_penalty = dbl_of(v, raw);
        c->has_presence_penalty = 1;
        return 1;
    case 'f':
        c->frequency_penalty = dbl_of(v, raw);
        c->has_frequency_penalty = 1;
        return 1;
    default: return 0;
    }
}

/* A message tag (a digit or a modifier of the last message). */
static void set_message(struct spec *s, char tag, const char *v)
{
    struct lr_chat *c = &s->chat;
    struct lr_message *last =
        c->n_messages ? &s->msgs[c->n_messages - 1] : NULL;
    if (tag >= '0' && tag <= '9' && c->n_messages < MAX_MSGS) {
        struct lr_message *m = &s->msgs[c->n_messages++];
        m->role = (enum lr_role)(tag - '0');
        m->content = v;
    }
    else if (last && tag == 'c')
        last->tool_calls_json = v;
    else if (last && tag == 'i')
        last->tool_call_id = v;
    else if (last && tag == 'n')
        last->name = v;
    else if (last && tag == 'N')
        last->content = NULL;
}

static void set_string(struct spec *s, char tag, const char *v)
{
    struct lr_chat *c = &s->chat;
    switch (tag) {
    case 's': c->system = v; return;
    case 'u': c->user = v; return;
    case 'T': c->tools_json = v; return;
    case 'C': c->tool_choice_json = v; return;
    case 'F': c->response_format_json = v; return;
    case 'm': s->model = v; return;
    case 'B': s->base_url = v; return;
    case 'x':
        if (c->n_stop < MAX_STOP + 1)
            s->stop[c->n_stop++] = v;
        return;
    default: break;
    }
    for (size_t i = 0; i < N_SECT; i++) {
        if (sect_tags[i].tag == tag)
            s->sect[i] = v;
    }
    set_message(s, tag, v);
}

static int decode(struct spec *s, const uint8_t *data, size_t size)
{
    memset(s, 0, sizeof *s);
    if (size == 0 || !(s->text = malloc(size + 1)))
        return -1;
    memcpy(s->text, data, size);
    s->text[size] = '\0';
    s->flags = (unsigned char)s->text[0];
    s->chat.stream = (s->flags & F_STREAM) != 0;
    if (s->flags & F_NULL_STOP)
        s->stop[s->chat.n_stop++] = NULL;
    char *p = s->text + 1, *end = s->text + size, raw[8];
    while (p < end) {
        char tag = *p++;
        int number = tag != '\0' && strchr("MStprf", tag) != NULL;
        const char *v = take(&p, end, number, raw);
        if (!number || !set_number(&s->chat, tag, v, raw))
            set_string(s, tag, v ? v : "");
    }
    s->chat.messages = s->msgs;
    s->chat.stop = s->chat.n_stop ? s->stop : NULL;
    s->key_in_input = memmem(data, size, KEY, strlen(KEY)) != NULL;
    return 0;
}

/* --- Checks ----------------------------------------------------------- */

struct prov {
    const char *name;
    const struct lr_plugin_desc *(*entry)(void);
    const char *model;
    const char *auth[2];      /* the header(s) the key may go in */
    const char *auth_prefix[2];
    const char *const *headers; /* every header it may send, NULL-ended */
};

static void broken(const struct prov *pv, const char *what,
                   const char *detail)
{
    fprintf(stderr, "fuzz_build: %s: %s\n%s\n", pv->name, what,
            detail ? detail : "");
    abort();
}

static int has_ctl(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return 1;
    }
    return 0;
}

static int has_ctl_or_space(const char *s)
{
    return has_ctl(s, strlen(s)) || strchr(s, ' ') != NULL;
}

/* Which of pv's auth headers name is, or -1. */
static int auth_index(const struct prov *pv, const char *name)
{
    for (int a = 0; a < 2; a++) {
        if (pv->auth[a] && strcmp(pv->auth[a], name) == 0)
            return a;
    }
    return -1;
}

/* One header line: a name pv sends, not seen before, a clean value;
   the key only as the auth header's value.  *seen: one bit a name. */
static void check_line(const struct prov *pv, const char *line, size_t n,
                       unsigned *seen, int key_checks)
{
    const char *colon = memchr(line, ':', n);
    size_t i = 0, nlen = colon ? (size_t)(colon - line) : 0;
    if (!colon || n < nlen + 2 || colon[1] != ' ')
        broken(pv, "header line is not \"Name: value\"", line);
    while (pv->headers[i] && (strlen(pv->headers[i]) != nlen ||
                              strncmp(pv->headers[i], line, nlen)))
        i++;
    if (!pv->headers[i] || (*seen & (1u << i)))
        broken(pv, "unexpected or repeated header (injected?)", line);
    *seen |= 1u << i;
    if (has_ctl(colon + 2, n - nlen - 2))
        broken(pv, "control byte in a header value", line);
    int a = auth_index(pv, pv->headers[i]);
    int is_auth = a >= 0;
    if (!key_checks)
        return;
    char want[128];
    snprintf(want, sizeof want, "%s: %s%s", pv->headers[i],
             is_auth ? pv->auth_prefix[a] : "", KEY);
    if (is_auth && (n != strlen(want) || memcmp(line, want, n)))
        broken(pv, "auth header is not the key", line);
    if (!is_auth && memmem(line, n, KEY, strlen(KEY)))
        broken(pv, "API key outside the auth header", line);
}

static void check_headers(const struct prov *pv, const struct lr_buf *h,
                          int key_checks, int has_key)
{
    unsigned seen = 0;
    const char *p = lr_buf_str(h), *end = p + h->len;
    if (memchr(p, '\r', h->len) || memchr(p, '\0', h->len))
        broken(pv, "CR or NUL in the headers", p);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        check_line(pv, p, n, &seen, key_checks);
        p += n + 1;
    }
    int n_auth = 0;
    for (int i = 0; pv->headers[i]; i++)
        n_auth += auth_index(pv, pv->headers[i]) >= 0 && (seen >> i & 1);
    if (key_checks && n_auth != has_key)
        broken(pv, has_key ? "no auth header" : "auth header without a key",
               lr_buf_str(h));
}

static void check_ok(const struct prov *pv, const struct spec *s,
                     const struct lr_http_request *rq, int key_checks)
{
    const char *body = lr_buf_str(&rq->body);
    cJSON *v = cJSON_ParseWithLength(body, rq->body.len);
    if (!v || memchr(body, '\0', rq->body.len))
        broken(pv, "body is not one JSON value", body);
    cJSON_Delete(v);
    const char *url = lr_buf_str(&rq->url);
    if (rq->url.len == 0 || strlen(url) != rq->url.len)
        broken(pv, "empty URL or NUL in it", url);
    const char *base = s->base_url ? s->base_url : "";
    if (has_ctl_or_space(url) && !has_ctl_or_space(base))
        broken(pv, "space or control byte in the URL", url);
    if (key_checks && (strstr(url, KEY) || strstr(body, KEY)))
        broken(pv, "API key in the URL or body", url);
    check_headers(pv, &rq->headers, key_checks,
                  !(s->flags & F_NO_KEY));
}

/* The cJSON reference on the same chat: same status, reason, body. */
static void check_ref(const struct prov *pv, struct provider_fx *t,
                      const struct spec *s, int rc, const char *err,
                      const struct lr_http_request *rq)
{
    if (rc != LR_OK && rq->body.len)
        broken(pv, "a body left after a failure", lr_buf_str(&rq->body));
    if (rc == LR_E_CONFIG)
        return;
    struct target_opts o = {.legacy_max_tokens = !!(s->flags & F_LEGACY),
                            .stream_usage = !(s->flags & F_NO_USAGE)};
    struct lr_buf ref = {0};
    char ref_err[256] = "";
    int ref_rc = ref_build_body(fake_host_table(t->fh), &t->target,
                                &s->chat, &o, &ref, ref_err, sizeof ref_err);
    if (ref_rc != rc || strcmp(err, ref_err) != 0)
        broken(pv, "status or reason differs from the reference", ref_err);
    if (rc == LR_OK && (ref.len != rq->body.len ||
                        memcmp(ref.data, rq->body.data, ref.len) != 0)) {
        fprintf(stderr, "reference: %s\n", lr_buf_str(&ref));
        broken(pv, "body differs from the reference",
               lr_buf_str(&rq->body));
    }
    fake_buf_free(&ref);
}

/* --- Driving ---------------------------------------------------------- */

static void configure(struct provider_fx *t, const struct spec *s)
{
    for (size_t i = 0; i < N_SECT; i++) {
        if (s->sect[i])
            fake_section_set(t->sec, sect_tags[i].key, s->sect[i]);
    }
    if (s->flags & F_LEGACY)
        fake_section_set(t->sec, "max_tokens_field", "max_tokens");
    if (s->flags & F_NO_USAGE)
        fake_section_set(t->sec, "stream_usage", "false");
    if (s->base_url)
        t->target.base_url = s->base_url;
}

/* Builds again under the locale flags ask for: the same everything. */
static void check_locale(const struct prov *pv, struct provider_fx *t,
                         const struct spec *s, int rc, const char *err,
                         const struct lr_http_request *rq)
{
    static int usable[2] = {1, 1};
    int k = s->flags & F_COMMA ? 0 : 1;
    char why[256], err2[256] = "";
    if (!(s->flags & (F_COMMA | F_MB_POINT)) || !usable[k])
        return;
    if ((k ? mb_point_locale_set : comma_locale_set)(why, sizeof why)) {
        usable[k] = 0;   /* none here: said once, skipped after */
        fprintf(stderr, "fuzz_build: no %s locale: %s\n",
                k ? "multi-byte point" : "comma-decimal", why);
        return;
    }
    struct lr_http_request r2;
    fake_request_init(&r2);
    const struct lr_provider_ops *ops = pv->entry()->ops;
    int rc2 = ops->build_request(t->inst, &t->target, &s->chat, &r2, err2,
                                 sizeof err2);
    comma_locale_reset();
    if (rc2 != rc || strcmp(err, err2) ||
        strcmp(lr_buf_str(&rq->url), lr_buf_str(&r2.url)) ||
        strcmp(lr_buf_str(&rq->headers), lr_buf_str(&r2.headers)) ||
        rq->body.len != r2.body.len ||
        memcmp(lr_buf_str(&rq->body), lr_buf_str(&r2.body), r2.body.len)) {
        fprintf(stderr, "in \"C\": %d %s %s\nthere: %d %s\n", rc, err,
                lr_buf_str(&rq->body), rc2, err2);
        broken(pv, "another request under a comma/multi-byte locale",
               lr_buf_str(&r2.body));
    }
    fake_request_free(&r2);
}

/* FUZZ_BUILD_TRACE=1: each provider's answer on stderr, to see what a
   seed reaches. */
static void trace(const struct prov *pv, int rc, const char *err,
                  const struct lr_http_request *rq)
{
    static int on = -1;
    if (on < 0)
        on = getenv("FUZZ_BUILD_TRACE") != NULL;
    if (!on)
        return;
    fprintf(stderr, "%s: %d %s\n  %s\n  %s\n  %s\n", pv->name, rc,
            rc == LR_OK ? "" : err, lr_buf_str(&rq->url),
            lr_buf_str(&rq->headers), lr_buf_str(&rq->body));
}

static void one(const struct prov *pv, const struct spec *s)
{
    const struct lr_plugin_desc *desc = pv->entry();
    const char *key = s->flags & F_NO_KEY ? "" : KEY;
    struct provider_fx *t = provider_fx_new(desc, "fz", pv->model, key);
    if (!t)
        broken(pv, "no instance", NULL);
    if (s->model)
        t->target.model = s->model;
    configure(t, s);
    struct lr_http_request rq;
    char err[256];
    memset(err, 'x', sizeof err);
    fake_request_init(&rq);
    const struct lr_provider_ops *ops = desc->ops;
    int rc = ops->build_request(t->inst, &t->target, &s->chat, &rq, err,
                                sizeof err);
    int key_checks = !s->key_in_input;
    trace(pv, rc, err, &rq);
    if (!memchr(err, '\0', sizeof err))
        broken(pv, "reason not NUL-terminated", NULL);
    if (rc != LR_OK && !*err)
        broken(pv, "an error without a reason", NULL);
    if (key_checks && (strstr(err, KEY) || fake_host_log_contains(t->fh,
                                                                  KEY)))
        broken(pv, "API key in the reason or a log line", err);
    if (rc == LR_OK)
        check_ok(pv, s, &rq, key_checks);
    check_locale(pv, t, s, rc, err, &rq);
    if (desc == fuzz_entry_openai())
        check_ref(pv, t, s, rc, err, &rq);
    fake_request_free(&rq);
    provider_fx_free(desc, t);
}

static const char *const openai_h[] = {
    "Authorization", "api-key", "Content-Type", "Accept",
    "OpenAI-Organization", "OpenAI-Project", NULL};
static const char *const anthropic_h[] = {
    "x-api-key", "anthropic-version", "anthropic-beta", "content-type",
    "accept", NULL};
static const char *const gemini_h[] = {
    "x-goog-api-key", "Content-Type", "Accept", NULL};

static const struct prov provs[] = {
    {"openai", fuzz_entry_openai, "gpt-4.1-mini",
     {"Authorization", "api-key"}, {"Bearer ", ""}, openai_h},
    {"anthropic", fuzz_entry_anthropic, "claude-sonnet-4-5",
     {"x-api-key", NULL}, {"", NULL}, anthropic_h},
    {"gemini", fuzz_entry_gemini, "gemini-2.5-flash",
     {"x-goog-api-key", NULL}, {"", NULL}, gemini_h},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct spec s;
    if (decode(&s, data, size) == 0) {
        for (size_t i = 0; i < sizeof provs / sizeof provs[0]; i++)
            one(&provs[i], &s);
    }
    free(s.text);
    return 0;
}
