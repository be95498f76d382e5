/*
 * utf8.h - keeps upstream text well-formed UTF-8.  Providers parse JSON
 * with cJSON, which takes whatever bytes a string holds, so an upstream
 * that sends invalid UTF-8 would otherwise hand it on to the caller, the
 * CLI's --json output and the gateway's JSON: each ill-formed sequence
 * becomes U+FFFD (the WHATWG "maximal subpart" rule: one replacement
 * per maximal invalid prefix), valid text is left byte for byte.
 */
#ifndef LR_CORE_UTF8_H
#define LR_CORE_UTF8_H

#include <stddef.h>

#include "llmroute_plugin.h"

/* Length of the valid UTF-8 prefix of s[0..len). */
size_t lr_utf8_valid_prefix(const char *s, size_t len);
/* Replace ill-formed sequences of b in place; LR_OK or LR_E_NOMEM (b is
   then unchanged). */
int lr_utf8_scrub(struct lr_buf *b);

#endif
