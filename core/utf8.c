/*
 * utf8.c - see utf8.h.  The checks follow the table of well-formed byte
 * sequences in the Unicode standard (section 3.9, table 3-7): no
 * overlongs, no surrogates, nothing past U+10FFFF.
 */
#include "utf8.h"

#include <string.h>

#include "buf.h"

/* Bytes of the well-formed sequence at s (1 to 4), or 0 with *bad set
   to the length of the maximal invalid subpart (at least 1). */
static size_t seq_len(const unsigned char *s, size_t len, size_t *bad)
{
    unsigned c = s[0];
    size_t n;
    unsigned lo = 0x80, hi = 0xBF;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        lo = c == 0xE0 ? 0xA0 : 0x80;
        hi = c == 0xED ? 0x9F : 0xBF;
    }
    else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        lo = c == 0xF0 ? 0x90 : 0x80;
        hi = c == 0xF4 ? 0x8F : 0xBF;
    }
    else {
        *bad = 1;
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        unsigned b = i < len ? s[i] : 0;
        if (i < len && b >= (i == 1 ? lo : 0x80u) &&
            b <= (i == 1 ? hi : 0xBFu))
            continue;
        *bad = i;
        return 0;
    }
    return n;
}

size_t lr_utf8_valid_prefix(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, bad;
    while (i < len) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = seq_len(p + i, len - i, &bad);
        if (!n)
            break;
        i += n;
    }
    return i;
}

int lr_utf8_scrub(struct lr_buf *b)
{
    size_t ok = lr_utf8_valid_prefix(b->data, b->len);
    if (ok == b->len)
        return LR_OK;
    struct lr_buf out = {0};
    const unsigned char *p = (const unsigned char *)b->data;
    size_t i = 0;
    while (i < b->len) {
        size_t good = lr_utf8_valid_prefix(b->data + i, b->len - i), bad;
        if (lr_buf_append(&out, p + i, good) != LR_OK)
            goto nomem;
        i += good;
        if (i == b->len)
            break;
        seq_len(p + i, b->len - i, &bad);
        if (lr_buf_append(&out, "\xEF\xBF\xBD", 3) != LR_OK)
            goto nomem;
        i += bad;
    }
    lr_buf_free(b);
    *b = out;
    return LR_OK;
nomem:
    lr_buf_free(&out);
    return LR_E_NOMEM;
}
