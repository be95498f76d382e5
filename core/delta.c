/*
 * delta.c - handing streamed text to the caller's lr_delta_fn, and what
 * the callback may ask while it runs (lr_delta_model()).
 *
 * lr_delta_fn's signature is fixed by the 0.1.0 ABI (text, len, user),
 * so what else a delta callback may want to know travels beside it: a
 * thread-local set for the length of the call.  Every delta of a
 * request is delivered on one thread (the engine's for lr_submit(), the
 * caller's for lr_stream()), the same one that runs the callback, so the
 * value is exactly the one of the call in progress, without a lock and
 * without a lookup by request id.
 */
#include <stddef.h>

#include "job.h"
#include "llmroute.h"

static _Thread_local const char *delta_model;

int lr_job_deliver(struct lr_job *job, const char *model, const char *text,
                   size_t len)
{
    const char *outer = delta_model;
    delta_model = model && *model ? model : NULL;
    int stop = job->on_delta(text, len, job->delta_user);
    delta_model = outer;
    return stop;
}

const char *lr_delta_model(void)
{
    return delta_model;
}
