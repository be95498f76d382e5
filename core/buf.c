/*
 * buf.c - growable byte buffers.  Growth doubles, so appending n bytes one
 * at a time costs O(n).  Every function keeps data NUL-terminated.
 */
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lr_buf_reserve(struct lr_buf *b, size_t extra)
{
    if (extra > SIZE_MAX / 2 - b->len)
        return LR_E_NOMEM;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return LR_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return LR_E_NOMEM;
    b->data = p;
    b->cap = cap;
    return LR_OK;
}

int lr_buf_append(struct lr_buf *b, const void *data, size_t len)
{
    if (lr_buf_reserve(b, len) != LR_OK)
        return LR_E_NOMEM;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return LR_OK;
}

int lr_buf_puts(struct lr_buf *b, const char *s)
{
    return lr_buf_append(b, s, strlen(s));
}

/* Nonzero when fmt holds no conversion but %s and %%. */
static int only_strings(const char *fmt)
{
    for (const char *p = strchr(fmt, '%'); p; p = strchr(p + 2, '%'))
        if (p[1] != 's' && p[1] != '%')
            return 0;
    return 1;
}

/* The common "%s: %s\n" kind of format without vsnprintf (providers
   format URLs and header lines on every request).  "(null)" for a NULL
   string, as glibc prints it.  On failure b is as it was. */
static int append_strings(struct lr_buf *b, const char *fmt, va_list ap)
{
    size_t was = b->len;
    int rc = LR_OK;
    const char *p = fmt;
    while (rc == LR_OK && *p) {
        const char *pc = strchr(p, '%');
        size_t lit = pc ? (size_t)(pc - p) : strlen(p);
        rc = lr_buf_append(b, p, lit);
        if (!pc)
            break;
        if (rc == LR_OK && pc[1] == '%')
            rc = lr_buf_append(b, "%", 1);
        else if (rc == LR_OK) {
            const char *v = va_arg(ap, const char *);
            rc = lr_buf_puts(b, v ? v : "(null)");
        }
        p = pc + 2;
    }
    if (rc != LR_OK && b->data) {
        b->len = was;
        b->data[was] = '\0';
    }
    return rc;
}

int lr_buf_vprintf(struct lr_buf *b, const char *fmt, va_list ap)
{
    if (only_strings(fmt))
        return append_strings(b, fmt, ap);
    va_list ap2;
    va_copy(ap2, ap);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    if (n < 0) {
        va_end(ap2);
        return LR_E_INVALID_ARG;
    }
    if ((size_t)n < sizeof small) {
        va_end(ap2);
        return lr_buf_append(b, small, (size_t)n);
    }
    if (lr_buf_reserve(b, (size_t)n) != LR_OK) {
        va_end(ap2);
        return LR_E_NOMEM;
    }
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    b->len += (size_t)n;
    return LR_OK;
}

int lr_buf_printf(struct lr_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = lr_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void lr_buf_reset(struct lr_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void lr_buf_free(struct lr_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

const char *lr_buf_str(const struct lr_buf *b)
{
    return b->data ? b->data : "";
}

char *lr_buf_steal(struct lr_buf *b)
{
    if (!b->data && lr_buf_reserve(b, 0) != LR_OK)
        return NULL;
    b->data[b->len] = '\0';
    char *p = b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}
