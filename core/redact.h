/*
 * redact.h - keeps an API key out of a message.
 *
 * Providers redact the key from the messages they build when they know
 * it, but a stream event reaches a provider without the target (ABI
 * 1.x), and the core's own excerpts of unreadable bodies quote upstream
 * bytes too; so every attempt's message passes here before it is logged
 * or returned.
 */
#ifndef LR_CORE_REDACT_H
#define LR_CORE_REDACT_H

#include <stddef.h>

/* Keys shorter than this are dummies ("", "x"), not secrets; the same
   rule as the providers' (plugins/provider_util.h). */
#define LR_REDACT_MIN 8

/* Replace every occurrence of key in the NUL-terminated msg (cap bytes
   of room) by "[redacted]", cutting the end if it no longer fits.  Does
   nothing for a NULL or short key.  Returns the number replaced. */
int lr_redact_key(char *msg, size_t cap, const char *key);

#endif
