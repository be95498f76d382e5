/*
 * sampling.c - the sampling hints and the response format of an
 * OpenAI-shaped object (a chat.completions body, a batch input line):
 * top_p, seed, presence_penalty, frequency_penalty and response_format;
 * and its stop sequences.
 *
 * Shared by the gateway (serve_request.c, which turns a bad one into a
 * 400 naming the field) and `llmroute batch` (batch_line.c, which turns
 * it into a bad_request result line), so both accept exactly the same
 * values.  The ranges themselves are the library's (lr_request_set_*);
 * here only the JSON types are checked, and null means unset, as OpenAI
 * reads it.  The one exception is the seed, read from its JSON text and
 * held to the whole numbers a double keeps exactly (|seed| <= 2^53).
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "llmroute.h"

/* --- seed, read from its text -----------------------------------------
   cJSON keeps every number as a double, which holds each whole number up
   to 2^53 but not beyond: 9007199254740993 reads as 9007199254740992, and
   9007199254740991.5 as a whole 9007199254740992.  Silently sampling with
   another seed than the caller's would defeat the point of a seed, so the
   seed is judged on its JSON text.  cJSON keeps an object's members,
   duplicates included, in text order, so the k-th child is the k-th
   member; the walk below skips k members of the (already valid) text. */

#define SEED_MAX "9007199254740992" /* 2^53 */

/* The object and the text it was parsed from. */
struct json_src {
    const cJSON *obj;
    const char *json;
    size_t len;
};

/* cJSON's white space: every byte up to 32. */
static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (unsigned char)*p <= 32)
        p++;
    return p;
}

/* Past the string that opens at p (a '"'). */
static const char *skip_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\' && p + 1 < end)
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return end;
}

/* Past the value that starts at p. */
static const char *skip_value(const char *p, const char *end)
{
    if (p < end && *p == '"')
        return skip_string(p, end);
    if (p < end && *p != '{' && *p != '[') {
        /* A number, true, false or null. */
        while (p < end && *p != ',' && *p != '}' && *p != ']' &&
               (unsigned char)*p > 32)
            p++;
        return p;
    }
    int depth = 0;
    while (p < end) {
        if (*p == '"') {
            p = skip_string(p, end);
            continue;
        }
        if (*p == '{' || *p == '[')
            depth++;
        else if ((*p == '}' || *p == ']') && --depth == 0)
            return p + 1;
        p++;
    }
    return end;
}

/* The text of member v of obj, parsed from json: 0 with *s and *n set,
   -1 when the walk cannot find it (not the text obj came from). */
static int member_text(const struct json_src *src, const cJSON *v,
                       const char **s, size_t *n)
{
    size_t k = 0;
    const cJSON *c = src->obj->child;
    for (; c && c != v; c = c->next)
        k++;
    const char *p = src->json, *end = src->json + src->len;
    if (end - p >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3))
        p += 3;   /* cJSON skips a UTF-8 byte order mark */
    p = skip_ws(p, end);
    if (!c || p == end || *p++ != '{')
        return -1;
    for (size_t i = 0;; i++) {
        p = skip_ws(p, end);
        if (p == end || *p != '"')
            return -1;
        p = skip_ws(skip_string(p, end), end);
        if (p == end || *p++ != ':')
            return -1;
        p = skip_ws(p, end);
        const char *after = skip_value(p, end);
        if (i == k) {
            *s = p;
            *n = (size_t)(after - p);
            return 0;
        }
        p = skip_ws(after, end);
        if (p == end || *p++ != ',')
            return -1;
    }
}

/* The mantissa of number text s[*i..n): its significant digits (leading
   zeros dropped) into dig, and the power of ten they are scaled by.
   0, or -1 when there are more than diglen or none at all. */
static int mantissa(const char *s, size_t n, size_t *i, char *dig,
                    size_t diglen, size_t *nd, long *scale)
{
    int point = 0, any = 0;
    for (; *i < n; (*i)++) {
        char ch = s[*i];
        if (ch == '.' && !point) {
            point = 1;
            continue;
        }
        if (ch < '0' || ch > '9')
            break;
        any = 1;
        *scale -= point;
        if (*nd == 0 && ch == '0')
            continue;
        if (*nd == diglen)
            return -1;
        dig[(*nd)++] = ch;
    }
    return any ? 0 : -1;
}

/* Whether number text s[0..n) is exactly a whole number from -2^53 to
   2^53: digits are compared, no double is involved. */
static int whole_2p53(const char *s, size_t n)
{
    char dig[64];   /* cJSON reads at most 63 bytes of a number */
    size_t i = 0, nd = 0;
    long scale = 0, exp = 0;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        i++;
    if (mantissa(s, n, &i, dig, sizeof dig, &nd, &scale))
        return 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        int neg = ++i < n && s[i] == '-';
        i += i < n && (s[i] == '-' || s[i] == '+');
        if (i == n)
            return 0;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            if (exp < 100000)   /* far past any seed, and no overflow */
                exp = exp * 10 + (s[i] - '0');
        scale += neg ? -exp : exp;
    }
    for (; nd > 0 && dig[nd - 1] == '0'; nd--)
        scale++;
    if (i != n || nd == 0)
        return i == n;   /* trailing junk, or zero */
    if (scale < 0 || nd + (size_t)scale > sizeof SEED_MAX - 1)
        return 0;        /* a fraction, or too many digits */
    if (nd + (size_t)scale < sizeof SEED_MAX - 1)
        return 1;
    char whole[sizeof SEED_MAX];
    memcpy(whole, dig, nd);
    memset(whole + nd, '0', (size_t)scale);
    return memcmp(whole, SEED_MAX, sizeof SEED_MAX - 1) <= 0;
}

static int number(struct lr_request *req, const cJSON *v,
                  int (*set)(struct lr_request *, double))
{
    return cJSON_IsNumber(v) ? set(req, v->valuedouble) : LR_E_INVALID_ARG;
}

static int top_p(struct lr_request *req, const cJSON *v,
                 const struct json_src *src)
{
    return number(req, v, lr_request_set_top_p);
}

/* Once its text is whole and within 2^53, the double holds it exactly
   (strtod rounds correctly). */
static int seed(struct lr_request *req, const cJSON *v,
                const struct json_src *src)
{
    const char *s;
    size_t n;
    if (!cJSON_IsNumber(v) || member_text(src, v, &s, &n) ||
        !whole_2p53(s, n))
        return LR_E_INVALID_ARG;
    return lr_request_set_seed(req, (int64_t)v->valuedouble);
}

static int presence(struct lr_request *req, const cJSON *v,
                    const struct json_src *src)
{
    return number(req, v, lr_request_set_presence_penalty);
}

static int frequency(struct lr_request *req, const cJSON *v,
                     const struct json_src *src)
{
    return number(req, v, lr_request_set_frequency_penalty);
}

/* Passed on as its JSON text: the library checks the shape. */
static int format(struct lr_request *req, const cJSON *v,
                  const struct json_src *src)
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
                      const char *json, size_t len, const char **field,
                      const char **want)
{
    static const struct {
        const char *key;
        int (*set)(struct lr_request *, const cJSON *,
                   const struct json_src *);
        const char *want;
    } fields[] = {
        {"top_p", top_p, "must be a number above 0 and at most 1"},
        {"seed", seed, "must be a whole number between -" SEED_MAX
         " and " SEED_MAX},
        {"presence_penalty", presence, PENALTY},
        {"frequency_penalty", frequency, PENALTY},
        {"response_format", format, "must be {\"type\":\"text\"}, "
         "{\"type\":\"json_object\"} or {\"type\":\"json_schema\","
         "\"json_schema\":{\"name\":NAME,\"schema\":{...}}} (NAME: 1 to 64 "
         "of A-Z a-z 0-9 _ -)"},
    };
    const struct json_src src = {obj, json, len};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, fields[i].key);
        if (!v || cJSON_IsNull(v))
            continue;
        int rc = fields[i].set(req, v, &src);
        if (rc != LR_OK) {
            *field = fields[i].key;
            *want = rc == LR_E_NOMEM ? "could not be stored (out of memory)"
                                     : fields[i].want;
            return rc;
        }
    }
    return LR_OK;
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
