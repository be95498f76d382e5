/*
 * blocking.h - blocking calls (lr_complete, lr_stream) run on their
 * caller's thread: the caller borrows an idle event loop from the
 * router's pool, drives its one job to the end on it and gives it back,
 * so a blocking call costs no thread hop.  Loops are kept across calls
 * (and with them curl's keep-alive connections) until lr_close.
 *
 * Shared with the engine thread, and so locked: the policy hooks (the
 * router's hook mutex, lr_router_hooks_lock), request ids (an atomic
 * counter), the pool and the registry of calls in flight (calls_mu),
 * through which lr_cancel and lr_close reach a blocking call.
 */
#ifndef LR_CORE_BLOCKING_H
#define LR_CORE_BLOCKING_H

#include <stdint.h>

#include "llmroute.h"

struct lr_router;

/* Run req to the end on the calling thread; *out gets the response
   (never NULL unless the return is LR_E_STOPPED or LR_E_NOMEM). */
int lr_blocking_run(struct lr_router *r, const struct lr_request *req,
                    lr_delta_fn on_delta, void *user,
                    struct lr_response **out);
/* LR_OK when id is a blocking call in flight (it ends as cancelled),
   else LR_E_NOT_FOUND. */
int lr_blocking_cancel(struct lr_router *r, uint64_t id);
/* Refuse new blocking calls, cancel those in flight, wait until they
   have returned, free the pooled loops. */
void lr_blocking_close(struct lr_router *r);

#endif
