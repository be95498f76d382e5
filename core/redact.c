/*
 * redact.c - see redact.h.
 */
#include "redact.h"

#include <stdlib.h>
#include <string.h>

#define MARK "[redacted]"

int lr_redact_key(char *msg, size_t cap, const char *key)
{
    size_t klen = key ? strlen(key) : 0;
    if (klen < LR_REDACT_MIN || cap == 0 || !strstr(msg, key))
        return 0;
    char *out = malloc(cap);
    if (!out) {
        msg[0] = '\0';   /* better no message than a secret in one */
        return 1;
    }
    size_t n = 0, mlen = strlen(MARK);
    int replaced = 0;
    const char *p = msg;
    while (*p && n + 1 < cap) {
        if (strncmp(p, key, klen) == 0) {
            size_t take = mlen < cap - 1 - n ? mlen : cap - 1 - n;
            memcpy(out + n, MARK, take);
            n += take;
            p += klen;
            replaced++;
        }
        else
            out[n++] = *p++;
    }
    out[n] = '\0';
    memcpy(msg, out, n + 1);
    free(out);
    return replaced;
}
