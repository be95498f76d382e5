/*
 * provider_drive.h - the part every provider fuzz target shares: one
 * input drives one provider instance on the test suite's fake host the
 * way the core does.
 *
 * Input format (text, so seeds are readable and mutations stay useful):
 *
 *   R 429\n                  R: a whole response, S: a 2xx SSE stream;
 *                            then the HTTP status
 *   retry-after: 2\n         headers, "name: value", until a blank line
 *   \n
 *   {"error": ...}           the body (R) or the raw SSE bytes (S)
 *
 * R calls parse_response() with the status, headers and body.  S frames
 * the body with the core's SSE framer (core/sse.c), cut into two chunks
 * where the first byte of the body says, and hands every event to
 * stream_event() as core/transfer.c does, then ends the stream at EOF.
 * Either way the target aborts if the API key shows up in a log line
 * or in the error message (for a stream, after the core's redaction:
 * stream_event() is not given the key, so the core redacts it).
 */
#ifndef LR_FUZZ_PROVIDER_DRIVE_H
#define LR_FUZZ_PROVIDER_DRIVE_H

#include <stddef.h>
#include <stdint.h>

#include "llmroute_plugin.h"

/* One input through desc's provider, for a target with that model and
   API key (the key the fixtures echo, so seeds reach the redaction).
   Always returns 0, as libFuzzer wants; aborts on a broken invariant. */
int fuzz_provider_one(const struct lr_plugin_desc *desc, const char *model,
                      const char *key, const uint8_t *data, size_t size);

#endif
