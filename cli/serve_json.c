/*
 * serve_json.c - JSON text appended straight to a serve_buf, as
 * cJSON_PrintUnformatted (cJSON 1.7.15) would print the same values.
 *
 * Why not a cJSON tree: a chat.completion object is written for every
 * answered request, and a stream writes a chunk for every delta.  As a
 * tree the object cost about 30 allocations and 30k instructions, a
 * sixth of everything the gateway's process did per request (measured
 * with callgrind; bench/README.md).  The texts are small and their
 * shapes fixed, so they are written in order instead.
 *
 * Strings are escaped as cJSON's print_string_ptr does: '"' and '\\',
 * then \b \f \n \r \t, every other byte below 0x20 as \u00xx (lowercase
 * hex); everything else, non-ASCII included, as is.  A length-bounded
 * string may hold NUL bytes, which come out as \u0000.  The escape
 * rule is the one plugins/openai_json.h applies to request bodies; the
 * CLI and the plugins each stand on include/ alone, so they cannot share
 * it.
 */
#include <stdint.h>
#include <string.h>

#include "serve.h"

void serve_json_raw(struct serve_buf *b, const char *s, size_t n)
{
    if (n)
        (void)serve_buf_add(b, s, n);
}

static int needs_escape(unsigned char c)
{
    return c < 0x20 || c == '"' || c == '\\';
}

static void escape_one(struct serve_buf *b, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    char e[6] = {'\\', 0, '0', '0', 0, 0};
    size_t n = 2;

    switch (c) {
    case '"': e[1] = '"'; break;
    case '\\': e[1] = '\\'; break;
    case '\b': e[1] = 'b'; break;
    case '\f': e[1] = 'f'; break;
    case '\n': e[1] = 'n'; break;
    case '\r': e[1] = 'r'; break;
    case '\t': e[1] = 't'; break;
    default:
        e[1] = 'u';
        e[4] = hex[c >> 4];
        e[5] = hex[c & 15];
        n = 6;
    }
    serve_json_raw(b, e, n);
}

void serve_json_str(struct serve_buf *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *end = p + n;

    serve_json_raw(b, "\"", 1);
    while (p < end) {
        const unsigned char *run = p;
        while (p < end && !needs_escape(*p))
            p++;
        serve_json_raw(b, (const char *)run, (size_t)(p - run));
        if (p < end)
            escape_one(b, *p++);
    }
    serve_json_raw(b, "\"", 1);
}

void serve_json_strz(struct serve_buf *b, const char *s)
{
    if (s)
        serve_json_str(b, s, strlen(s));
    else
        serve_json_raw(b, "null", 4);
}

void serve_json_int(struct serve_buf *b, long long v)
{
    char d[24];
    size_t i = sizeof d;
    /* Through unsigned, so LLONG_MIN negates without overflow. */
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v
                                 : (unsigned long long)v;

    do {
        d[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        d[--i] = '-';
    serve_json_raw(b, d + i, sizeof d - i);
}

char *serve_buf_take(struct serve_buf *b)
{
    char *s = b->failed ? NULL : b->data;
    if (!s)
        serve_buf_free(b);
    else
        memset(b, 0, sizeof *b);
    return s;
}
