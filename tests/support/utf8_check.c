/*
 * utf8_check.c - see utf8_check.h.  Decodes each sequence and checks
 * the value against the shortest form of its length.
 */
#include "utf8_check.h"

#include <stddef.h>

int utf8_check(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        size_t n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2
                 : (c >> 3) == 30 ? 3 : 9;
        if (n == 9)
            return 0;
        unsigned cp = n ? c & (0x3Fu >> n) : c;
        for (size_t i = 1; i <= n; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (p[i] & 0x3Fu);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
            (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        p += n + 1;
    }
    return 1;
}
