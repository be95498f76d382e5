/*
 * secrets.h - the process-wide list of values that must never leave the
 * process as text: every API key a router read from the environment.
 *
 * Text that may carry one (log lines, error messages, anything an
 * upstream sent back) goes through lr_secrets_redact() on its way out, so
 * a provider echoing the key in its 401 message, or a plugin logging a
 * header, cannot put the key in a log, a response or a request log.
 */
#ifndef LR_CORE_SECRETS_H
#define LR_CORE_SECRETS_H

#include <stddef.h>

/* Runs this long or longer that also occur in a key are redacted; a key
   shorter than this is not registered (no real API key is that short,
   and shorter runs would garble ordinary text). */
#define LR_SECRET_MIN 8

/* What a redacted run is replaced by (runs shorter than it become '*'). */
#define LR_SECRET_MARK "[redacted]"

/* Register a key (copied; counted, so two routers may share one).
   0, or -1 when out of memory. */
int lr_secrets_add(const char *value);
/* Drop one registration of value. */
void lr_secrets_remove(const char *value);
/* Redact, in place, every run of at least LR_SECRET_MIN characters of s
   that also occurs inside a registered key (whole keys, and pieces of
   them such as "sk-abc***" echoes).  s only shrinks.  Returns the number
   of runs redacted. */
size_t lr_secrets_redact(char *s);

#endif
