/*
 * openai_json.h - writing JSON text straight into an lr_buf, byte for
 * byte what cJSON_PrintUnformatted (cJSON 1.7.15) prints for the same
 * values, without building a tree (the request body is on every
 * request's path; a tree costs a dozen allocations and ~9k instructions).
 *
 * What "the same" means, from cJSON's print_string_ptr/print_number:
 *  - strings: '"' and '\\' escaped, \b \f \n \r \t as such, every other
 *    byte below 0x20 as \u00xx (lowercase hex); every byte >= 0x20,
 *    0x7f and non-ASCII/invalid UTF-8 included, passes through as is;
 *  - numbers: NaN/inf as null; else %1.15g, or %1.17g when the %1.15g
 *    text does not read back within DBL_EPSILON (cJSON's compare_double);
 *    printed in the "C" locale (c_locale.h), where cJSON prints in the
 *    process's and swaps the first byte of its decimal point back to
 *    '.': the same bytes under the "C" locale and any one-byte point,
 *    and still '.' under a multi-byte one.  1.7.15 has no %d
 *    shortcut for integral values (later versions do): -0.0 prints as
 *    "-0", which the test pins.
 *
 * Bytes are staged in a small stack buffer and handed to buf_append in
 * chunks, so a short body costs a few host calls.  Errors are sticky:
 * check jw_done() once at the end.
 */
#ifndef LR_OPENAI_JSON_H
#define LR_OPENAI_JSON_H

#include "c_locale.h"
#include "llmroute_plugin.h"

#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define JW_STAGE 512

struct jw {
    const struct lr_host *h;
    struct lr_buf *out;
    size_t n;            /* bytes staged */
    int rc;              /* first failure, sticky */
    char stage[JW_STAGE];
};

static inline void jw_init(struct jw *w, const struct lr_host *h,
                           struct lr_buf *out)
{
    w->h = h;
    w->out = out;
    w->n = 0;
    w->rc = LR_OK;
}

static inline void jw_flush(struct jw *w)
{
    if (w->n && w->rc == LR_OK)
        w->rc = w->h->buf_append(w->out, w->stage, w->n);
    w->n = 0;
}

/* Appends len raw bytes (already JSON). */
static inline void jw_raw(struct jw *w, const char *s, size_t len)
{
    if (w->n + len <= JW_STAGE) {
        memcpy(w->stage + w->n, s, len);
        w->n += len;
        return;
    }
    jw_flush(w);
    if (len <= JW_STAGE / 2) {
        memcpy(w->stage, s, len);
        w->n = len;
    } else if (w->rc == LR_OK) {
        w->rc = w->h->buf_append(w->out, s, len);
    }
}

/* A literal: jw_lit(w, "\"model\":"). */
#define jw_lit(w, s) jw_raw((w), (s), sizeof(s) - 1)

static inline void jw_char(struct jw *w, char c)
{
    if (w->n == JW_STAGE)
        jw_flush(w);
    w->stage[w->n++] = c;
}

/* Nonzero for the bytes cJSON escapes. */
static inline int jw_needs_escape(unsigned char c)
{
    return c < 0x20 || c == '"' || c == '\\';
}

/* s as a quoted, escaped JSON string. */
static inline void jw_str(struct jw *w, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;

    jw_char(w, '"');
    for (;;) {
        const unsigned char *run = p;
        while (*p && !jw_needs_escape(*p))
            p++;
        jw_raw(w, (const char *)run, (size_t)(p - run));
        if (!*p)
            break;
        char e[6] = {'\\', 0, 0, 0, 0, 0};
        size_t n = 2;
        switch (*p) {
        case '"': e[1] = '"'; break;
        case '\\': e[1] = '\\'; break;
        case '\b': e[1] = 'b'; break;
        case '\f': e[1] = 'f'; break;
        case '\n': e[1] = 'n'; break;
        case '\r': e[1] = 'r'; break;
        case '\t': e[1] = 't'; break;
        default:
            e[1] = 'u';
            e[2] = '0';
            e[3] = '0';
            e[4] = hex[*p >> 4];
            e[5] = hex[*p & 15];
            n = 6;
        }
        jw_raw(w, e, n);
        p++;
    }
    jw_char(w, '"');
}

static inline int jw_close(double a, double b)
{
    double m = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
    return fabs(a - b) <= m * DBL_EPSILON;
}

/* d as cJSON prints a number made with cJSON_CreateNumber(d). */
static inline void jw_num(struct jw *w, double d)
{
    char nb[26];
    int len;
    double test = 0.0;

    /* Whole numbers below 1e15 (a temperature of 0 or 1) print as
       their digits under %1.15g, and read back exactly: the same bytes
       without the printf/sscanf round (~2.8k instructions).  -0.0 keeps
       the slow path, which prints "-0". */
    if (d > -1e15 && d < 1e15 && d == (double)(long long)d &&
        !(d == 0 && signbit(d))) {
        long long v = (long long)d;
        unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v
                                     : (unsigned long long)v;
        size_t i = sizeof nb;
        do {
            nb[--i] = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        if (v < 0)
            nb[--i] = '-';
        jw_raw(w, nb + i, sizeof nb - i);
        return;
    }
    if (isnan(d) || isinf(d)) {
        len = snprintf(nb, sizeof nb, "null");
    } else {
        /* In the "C" locale, whatever the application set: cJSON swaps
           one byte of the locale's point back to '.', which garbles a
           multi-byte one (ps_AF's U+066B). */
        locale_t old = c_locale_enter();
        len = snprintf(nb, sizeof nb, "%1.15g", d);
        if (sscanf(nb, "%lg", &test) != 1 || !jw_close(test, d))
            len = snprintf(nb, sizeof nb, "%1.17g", d);
        c_locale_leave(old);
    }
    if (len < 0 || len > (int)sizeof nb - 1) {
        if (w->rc == LR_OK)
            w->rc = LR_E_NOMEM; /* as cJSON: the print fails */
        return;
    }
    jw_raw(w, nb, (size_t)len);
}

/* v as decimal digits: what put_int() prints (seeds and max tokens,
   integers a double would print in exponent form from 1e15). */
static inline void jw_i64(struct jw *w, int64_t v)
{
    char nb[24];
    size_t i = sizeof nb;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        nb[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        nb[--i] = '-';
    jw_raw(w, nb + i, sizeof nb - i);
}

/* Flushes; the first failure, or LR_OK. */
static inline int jw_done(struct jw *w)
{
    jw_flush(w);
    return w->rc;
}

#endif
