/*
 * status.h - status names and the retry/fallback rules by error class.
 */
#ifndef LR_CORE_STATUS_H
#define LR_CORE_STATUS_H

#include "llmroute.h"

/* Inverse of lr_status_name(). */
int lr_status_from_name(const char *name, enum lr_status *out);
/* Worth another attempt on the same target (after a wait): rate_limited,
   overloaded, server_error, timeout, network, protocol. */
int lr_status_retryable(enum lr_status st);
/* Worth moving to the next candidate target: the retryable classes plus
   the target-specific ones (quota_exhausted, auth). */
int lr_status_fallback(enum lr_status st);

#endif
