/*
 * provider_util.h - helpers every provider plugin needs: error reasons,
 * cJSON access that tolerates wrong types, whole-text parsing, building
 * JSON with a single failure check, message text cleaned of control
 * characters and of the API key, and response-header lookup.
 *
 * Header-only (static inline) because each plugin is one shared object
 * that links nothing from the core; this keeps the providers from each
 * carrying a copy.  It uses only llmroute_plugin.h, libc and cJSON, so a
 * plugin including it still sees nothing of the core.
 */
#ifndef LR_PROVIDER_UTIL_H
#define LR_PROVIDER_UTIL_H

#include "llmroute_plugin.h"

#include <cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define EXCERPT_MAX 200   /* bytes of a body we could not parse */
#define MESSAGE_MAX 1000  /* bytes of a provider's error message */
#define REDACT_MIN 8      /* shorter "keys" are dummies, not secrets */

static inline int fail(char *err, size_t errlen, int rc, const char *fmt,
                       ...) LR_PRINTF(4, 5);

/* Writes the reason into the caller's err and returns rc. */
static inline int fail(char *err, size_t errlen, int rc, const char *fmt,
                       ...)
{
    va_list ap;
    if (!err || !errlen)
        return rc;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return rc;
}

static inline const cJSON *get(const cJSON *obj, const char *key)
{
    return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key)
                               : NULL;
}

/* The string at obj.key, or NULL when absent or not a string. */
static inline const char *get_str(const cJSON *obj, const char *key)
{
    const cJSON *v = get(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static inline int64_t count_of(double d, int64_t dflt)
{
    if (!(d >= 0) || d > 9007199254740992.0)
        return dflt;
    return (int64_t)d;
}

/* A token count: a finite, non-negative number up to 2^53, else dflt.
   A string is not trusted as a count. */
static inline int64_t get_count(const cJSON *obj, const char *key,
                                int64_t dflt)
{
    const cJSON *v = get(obj, key);
    return cJSON_IsNumber(v) ? count_of(v->valuedouble, dflt) : dflt;
}

/* The same for proto-JSON (Gemini), which may print an int64 as a
   string of digits; 0 when absent or malformed. */
static inline int64_t get_count_proto(const cJSON *obj, const char *key)
{
    const cJSON *v = get(obj, key);
    if (cJSON_IsNumber(v))
        return count_of(v->valuedouble, 0);
    if (cJSON_IsString(v) && *v->valuestring &&
        strspn(v->valuestring, "0123456789") == strlen(v->valuestring) &&
        strlen(v->valuestring) < 16)
        return count_of(strtod(v->valuestring, NULL), 0);
    return 0;
}

/* Whole-text JSON: trailing bytes other than whitespace reject it. */
static inline cJSON *parse_json(const char *text, size_t len)
{
    const char *end = NULL;
    if (!text || !len)
        return NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root)
        return NULL;
    while (end && end < text + len &&
           (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
        end++;
    if (end != text + len) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

/* JSON text the caller embeds (tools, tool calls), parsed as a whole;
   NULL if invalid. */
static inline cJSON *parse_embedded(const char *text)
{
    const char *end = NULL;
    return text ? cJSON_ParseWithOpts(text, &end, 1) : NULL;
}

/* Adds item under key (obj an object) or at the end (obj an array);
   clears *ok and frees item on failure, so callers check once. */
static inline void put(cJSON *obj, const char *key, cJSON *item, int *ok)
{
    int added = 0;
    if (item && obj)
        added = key ? cJSON_AddItemToObject(obj, key, item)
                    : cJSON_AddItemToArray(obj, item);
    if (!added) {
        cJSON_Delete(item);
        *ok = 0;
    }
}

/* An integer under key as its digits.  A cJSON number is a double, and
   cJSON prints one of 1e15 or more in exponent form with 15 significant
   digits (9007199254740991 as 9.00719925474099e+15), which no API reads
   as the integer sent: max_tokens and seeds go through here. */
static inline void put_int(cJSON *obj, const char *key, int64_t v, int *ok)
{
    char num[24];
    snprintf(num, sizeof num, "%" PRId64, v);
    put(obj, key, cJSON_CreateRaw(num), ok);
}

/* A sampling hint (top_p, a penalty) under key when set (has); it must
   be finite, and errors name it as the caller does (name). */
static inline int put_hint(cJSON *obj, const char *key, const char *name,
                           int has, double v, char *err, size_t errlen)
{
    int ok = 1;
    if (!has)
        return LR_OK;
    if (!isfinite(v))
        return fail(err, errlen, LR_E_INVALID_ARG,
                    "%s: not a finite number", name);
    put(obj, key, cJSON_CreateNumber(v), &ok);
    return ok ? LR_OK : fail(err, errlen, LR_E_NOMEM, "out of memory");
}

/* Appends the compact text of root to out. */
static inline int print_into(const struct lr_host *h, const cJSON *root,
                             struct lr_buf *out)
{
    char *s = cJSON_PrintUnformatted(root);
    if (!s)
        return LR_E_NOMEM;
    int rc = h->buf_append(out, s, strlen(s));
    cJSON_free(s);
    return rc;
}

static inline int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/*
 * Appends at most max bytes of text (cut on a UTF-8 boundary, "..."
 * marking the cut) with control characters folded into single spaces
 * and every occurrence of key replaced, so no secret ends up in a
 * message.
 */
static inline int append_clean(const struct lr_host *h, struct lr_buf *out,
                               const char *text, size_t len, size_t max,
                               const char *key)
{
    char tmp[MESSAGE_MAX + 16];
    size_t n = 0, klen = key ? strlen(key) : 0;

    if (klen < REDACT_MIN)
        klen = 0;
    if (max > MESSAGE_MAX)
        max = MESSAGE_MAX;
    for (size_t i = 0; i < len && n < sizeof tmp - 4; i++) {
        unsigned char ch = (unsigned char)text[i];
        if (klen && len - i >= klen && memcmp(text + i, key, klen) == 0) {
            if (n + 10 > max)
                break;
            memcpy(tmp + n, "[redacted]", 10);
            n += 10;
            i += klen - 1;
            continue;
        }
        if (n >= max && (ch & 0xc0) != 0x80) {
            memcpy(tmp + n, "...", 3);
            n += 3;
            break;
        }
        if (ch < 0x20 || ch == 0x7f)
            ch = ' ';
        if (ch != ' ' || (n && tmp[n - 1] != ' '))
            tmp[n++] = (char)ch;
    }
    return h->buf_append(out, tmp, n);
}

/*
 * A base_url cut where the provider's own path goes: the path part
 * (trailing slashes dropped) and the query without its '?'.  A base may
 * carry a query the upstream needs on every request (Azure OpenAI's
 * "?api-version=2024-06-01", a proxy's "?key=..."); it must follow the
 * provider's path, not precede it.  A fragment is never sent.
 */
struct base_url {
    const char *s;
    size_t len;         /* bytes of s before the query: the path part */
    const char *query;  /* after the '?'; qlen 0 when there is none */
    size_t qlen;
};

static inline struct base_url split_base_url(const char *base)
{
    struct base_url u = {base, strcspn(base, "?#"), "", 0};
    if (base[u.len] == '?') {
        u.query = base + u.len + 1;
        u.qlen = strcspn(u.query, "#");
    }
    while (u.len && base[u.len - 1] == '/')
        u.len--;
    return u;
}

/* Appends u's query followed by own (NULL or "" for none), joined with
   '&', after a '?' unless both are empty. */
static inline int append_url_query(const struct lr_host *h,
                                   struct lr_buf *url,
                                   const struct base_url *u, const char *own)
{
    size_t olen = own ? strlen(own) : 0;
    int rc = LR_OK;
    if (u->qlen || olen)
        rc |= h->buf_append(url, "?", 1);
    rc |= h->buf_append(url, u->query, u->qlen);
    if (u->qlen && olen)
        rc |= h->buf_append(url, "&", 1);
    rc |= h->buf_append(url, own ? own : "", olen);
    return rc == LR_OK ? LR_OK : LR_E_NOMEM;
}

/* Appends u's path part, path, then the query as above. */
static inline int append_url(const struct lr_host *h, struct lr_buf *url,
                             const struct base_url *u, const char *path,
                             const char *own)
{
    if (h->buf_append(url, u->s, u->len) != LR_OK ||
        h->buf_append(url, path, strlen(path)) != LR_OK)
        return LR_E_NOMEM;
    return append_url_query(h, url, u, own);
}

/* The value of response header name (lower-case), or NULL. */
static inline const char *header(const struct lr_http_response *in,
                                 const char *name)
{
    for (size_t i = 0; in->headers && i < in->n_headers; i++) {
        const struct lr_header *hd = &in->headers[i];
        if (hd->name && hd->value && strcasecmp(hd->name, name) == 0)
            return hd->value;
    }
    return NULL;
}

#endif
