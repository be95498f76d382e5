/*
 * sse.h - Server-Sent Events framing (WHATWG rules, as the providers use
 * them).  Bytes go in as they arrive from the socket, split anywhere (even
 * inside a UTF-8 sequence or a CRLF pair); complete events come out through
 * a callback.
 *
 * Rules: lines end with "\n", "\r\n" or "\r" (a "\r" at the end of one
 * chunk followed by "\n" at the start of the next is one line end); a blank
 * line dispatches the event; "data:" lines are joined with "\n"; one space
 * after the colon is dropped; a line with no colon is a field name with
 * the value ""; field names are case-sensitive; lines starting with ':'
 * are comments; "id:" and "retry:" and unknown fields are ignored; an
 * event with no data line is not dispatched (one whose only data line is
 * empty is, with data ""), and its event name does not carry over.  A
 * line or an event's joined data larger than max_event bytes is an error
 * (LR_E_PROTOCOL), so a hostile upstream cannot grow memory without
 * bound; the outcome never depends on where the chunks were cut.
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

/* Start a framer; max_event 0 means 8 MiB.  Nothing is allocated yet. */
void lr_sse_init(struct lr_sse *s, size_t max_event);
/*
 * Feed len bytes (borrowed for the call); calls fn for each event they
 * complete.  ev and its strings are valid only during the callback.
 * Returns LR_OK, LR_E_PROTOCOL for a line or event over max_event,
 * LR_E_NOMEM, or the first non-LR_OK value fn returned.  After any
 * non-LR_OK return the rest of the chunk is dropped and the framer's
 * state is undefined: abandon the stream (lr_sse_finish() or
 * lr_sse_free() are still safe).
 */
int lr_sse_feed(struct lr_sse *s, const char *bytes, size_t len,
                lr_sse_event_fn fn, void *user);
/* End of body: a pending event without its blank line is dispatched only
   when dispatch_partial is nonzero (Gemini ends at EOF); an unterminated
   last line then counts as a complete line.  Otherwise the pending event
   is dropped, as WHATWG says.  Either way the framer is left empty and
   may be fed a new stream.  Returns the callback's status, LR_E_NOMEM,
   or LR_OK. */
int lr_sse_finish(struct lr_sse *s, int dispatch_partial,
                  lr_sse_event_fn fn, void *user);
/* Nonzero when bytes of an unfinished event are buffered (a partial line,
   a data line or an event name not yet closed by a blank line). */
int lr_sse_pending(const struct lr_sse *s);
/* Release the buffers; the framer is empty and reusable afterwards. */
void lr_sse_free(struct lr_sse *s);

#endif
