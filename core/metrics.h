/*
 * metrics.h - counters, gauges and per-target aggregates, read by
 * lr_metrics_json() (and so by the gateway's /metrics and dashboard).
 * Thread-safe: the engine thread writes, any thread reads.
 */
#ifndef LR_CORE_METRICS_H
#define LR_CORE_METRICS_H

#include <stdint.h>

#include "llmroute.h"

struct lr_metrics;

struct lr_metrics *lr_metrics_new(void);
void lr_metrics_free(struct lr_metrics *m);

/* counter name{label} += v; label may be NULL. */
void lr_metrics_counter_add(struct lr_metrics *m, const char *name,
                            const char *label, double v);

/* gauge name{label} = v; label may be NULL.  Kept apart from counters. */
void lr_metrics_gauge_set(struct lr_metrics *m, const char *name,
                          const char *label, double v);

/* One finished attempt against a target (skips are not attempts). */
void lr_metrics_attempt(struct lr_metrics *m, const char *target,
                        enum lr_status st, int64_t latency_ms);

/* One finished request. */
void lr_metrics_request(struct lr_metrics *m, const char *target,
                        enum lr_status st, int64_t latency_ms,
                        int64_t prompt_tokens, int64_t completion_tokens,
                        double cost_usd);

/* JSON text (malloc'd) or NULL. */
char *lr_metrics_to_json(struct lr_metrics *m);

#endif
