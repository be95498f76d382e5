/*
 * sse.h - Server-Sent Events framing (WHATWG rules, as the providers use
 * them).  Bytes go in as they arrive from the socket, split anywhere (even
 * inside a UTF-8 sequence or a CRLF pair); complete events come out through
 * a callback.
 *
 * Rules: lines end with "\n", "\r\n" or "\r" (a "\r" at the end of one
 * chunk followed by "\n" at the start of the next is one line end); a blank
 * line dispatches the event; "data:" lines are joined with "\n"; one space
 * after the colon is dropped; lines starting with ':' are comments; "id:"
 * and "retry:" and unknown fields are ignored; an event with no data line
 * is not dispatched.  A line or event larger than max_event bytes is an
 * error (LR_E_PROTOCOL), so a hostile upstream cannot grow memory without
 * bound.
 */
#ifndef LR_CORE_SSE_H
#define LR_CORE_SSE_H

#include "llmroute_plugin.h"

/* Return LR_OK to go on; anything else stops lr_sse_feed() with it. */
typedef int (*lr_sse_event_fn)(const struct lr_sse_event *ev, void *user);

struct lr_sse {
    struct lr_buf line;     /* current partial line */
    struct lr_buf event;    /* current event name */
    struct lr_buf data;     /* joined data lines of the current event */
    int has_data;           /* saw at least one data: line */
    int last_was_cr;        /* previous chunk ended in '\r' */
    size_t max_event;       /* bytes; 0 means 8 MiB */
};

void lr_sse_init(struct lr_sse *s, size_t max_event);
/* Feed len bytes; calls fn for each complete event. */
int lr_sse_feed(struct lr_sse *s, const char *bytes, size_t len,
                lr_sse_event_fn fn, void *user);
/* End of body: a pending event without its blank line is dispatched only
   when dispatch_partial is nonzero (Gemini ends at EOF).  Returns the
   callback's status, or LR_OK. */
int lr_sse_finish(struct lr_sse *s, int dispatch_partial,
                  lr_sse_event_fn fn, void *user);
/* Nonzero when bytes of an unfinished event are buffered. */
int lr_sse_pending(const struct lr_sse *s);
void lr_sse_free(struct lr_sse *s);

#endif
