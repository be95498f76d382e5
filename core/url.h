/*
 * url.h - a URL as it may be shown: in the describe JSON, `llmroute
 * check`, load errors and log lines (see url.c for why not the secrets
 * registry).
 */
#ifndef LR_CORE_URL_H
#define LR_CORE_URL_H

#include <stddef.h>

/* LR_URL_MASK stands for every credential-bearing part. */
#define LR_URL_MASK "***"

/*
 * Write url into out (always NUL-terminated, truncated to outlen) with
 * what may be a credential masked: the whole userinfo ("user:pw@"
 * becomes "***@"), each query value ("?key=AIza..&alt=sse" becomes
 * "?key=***&alt=***"; a parameter without '=' becomes "***") and the
 * fragment.  Scheme, host, port and path are kept.  Returns out.
 */
char *lr_url_redact(const char *url, char *out, size_t outlen);

#endif
