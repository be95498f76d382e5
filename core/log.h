/*
 * log.h - the library's log sink.  Process-wide: lines go to the
 * application's lr_set_log_cb() callback or to stderr.  Callers prefix
 * their origin ("[policy:budget]", "[target:gpt]"); nothing logged may
 * contain an API key, a prompt or an answer.
 */
#ifndef LR_CORE_LOG_H
#define LR_CORE_LOG_H

#include <stdarg.h>

#include "llmroute_plugin.h"

void lr_log(enum lr_log_level level, const char *fmt, ...) LR_PRINTF(2, 3);
void lr_logv(enum lr_log_level level, const char *fmt, va_list ap)
    LR_PRINTF(2, 0);
int lr_log_enabled(enum lr_log_level level);
/* One line "PREFIX MESSAGE": what a plugin's host->log writes, with the
   plugin's origin ("[policy:budget]", "[store:sqlite]") in prefix. */
void lr_log_prefixed(enum lr_log_level level, const char *prefix,
                     const char *fmt, va_list ap) LR_PRINTF(3, 0);

#endif
