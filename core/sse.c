/*
 * sse.c - incremental Server-Sent Events framer (the rules are in sse.h).
 *
 * The hot path looks at each byte once and never calls out per byte:
 * memchr finds the next '\n' and the next '\r' (each remembered until
 * the cursor passes it, so a chunk full of one kind is not rescanned for
 * the other), and a line lying wholly inside the chunk being fed is
 * parsed in place.  Only a line cut by a chunk boundary is copied, into
 * s->line, and completed by a later feed.  The three buffers keep their
 * memory from event to event, so a long stream of small events stops
 * allocating after the first few.
 *
 * A '\r' that ends a chunk may be the first half of "\r\n".  The '\r'
 * alone already ends the line, so the line is processed at once and
 * last_was_cr tells the next feed to swallow a '\n' that opens it.
 *
 * Limits are checked so that the outcome never depends on where the
 * chunks were cut: a line longer than max_event fails whether it arrives
 * whole or in pieces, and so does an event whose joined data grows past
 * max_event.
 */
#include "sse.h"

#include <string.h>

#include "buf.h"

#define DEFAULT_MAX_EVENT ((size_t)8 << 20)

/* Next '\n' and '\r' at or after the cursor, or the chunk end. */
struct eol_scan {
    const char *lf;
    const char *cr;
};

static size_t limit(const struct lr_sse *s)
{
    return s->max_event ? s->max_event : DEFAULT_MAX_EVENT;
}

void lr_sse_init(struct lr_sse *s, size_t max_event)
{
    memset(s, 0, sizeof *s);
    s->max_event = max_event ? max_event : DEFAULT_MAX_EVENT;
}

static void reset_event(struct lr_sse *s)
{
    lr_buf_reset(&s->event);
    lr_buf_reset(&s->data);
    s->has_data = 0;
}

/* A blank line: hand the event over if it had a data line, and start a
   new one either way (the event name does not carry over). */
static int dispatch(struct lr_sse *s, lr_sse_event_fn fn, void *user)
{
    int rc = LR_OK;
    if (s->has_data) {
        struct lr_sse_event ev = {
            .event = lr_buf_str(&s->event),
            .data = lr_buf_str(&s->data),
            .data_len = s->data.len,
        };
        rc = fn(&ev, user);
    }
    reset_event(s);
    return rc;
}

static int add_data(struct lr_sse *s, const char *val, size_t len)
{
    size_t sep = s->has_data ? 1 : 0;
    if (len > limit(s) || s->data.len + sep + len > limit(s))
        return LR_E_PROTOCOL;
    if (sep && lr_buf_append(&s->data, "\n", 1) != LR_OK)
        return LR_E_NOMEM;
    if (lr_buf_append(&s->data, val, len) != LR_OK)
        return LR_E_NOMEM;
    s->has_data = 1;
    return LR_OK;
}

/* "name:value", "name: value" or a bare "name" (value ""). */
static int take_field(struct lr_sse *s, const char *line, size_t len)
{
    const char *colon = memchr(line, ':', len);
    size_t nlen = colon ? (size_t)(colon - line) : len;
    const char *val = colon ? colon + 1 : line + len;
    size_t vlen = colon ? len - nlen - 1 : 0;

    if (vlen && *val == ' ') {
        val++;
        vlen--;
    }
    if (nlen == 4 && memcmp(line, "data", 4) == 0)
        return add_data(s, val, vlen);
    if (nlen == 5 && memcmp(line, "event", 5) == 0) {
        lr_buf_reset(&s->event);
        return lr_buf_append(&s->event, val, vlen);
    }
    return LR_OK; /* id, retry and unknown fields mean nothing to us */
}

static int process_line(struct lr_sse *s, const char *line, size_t len,
                        lr_sse_event_fn fn, void *user)
{
    if (len == 0)
        return dispatch(s, fn, user);
    if (line[0] == ':')
        return LR_OK;
    return take_field(s, line, len);
}

/* A line ended inside this chunk; [p, p + n) is its tail. */
static int end_line(struct lr_sse *s, const char *p, size_t n,
                    lr_sse_event_fn fn, void *user)
{
    if (s->line.len == 0) {
        if (n > limit(s))
            return LR_E_PROTOCOL;
        return process_line(s, p, n, fn, user);
    }
    if (n > limit(s) - s->line.len)
        return LR_E_PROTOCOL;
    if (lr_buf_append(&s->line, p, n) != LR_OK)
        return LR_E_NOMEM;
    int rc = process_line(s, s->line.data, s->line.len, fn, user);
    lr_buf_reset(&s->line);
    return rc;
}

/* The chunk ended mid-line: keep the start for the next feed. */
static int keep_partial(struct lr_sse *s, const char *p, size_t n)
{
    if (n > limit(s) || s->line.len > limit(s) - n)
        return LR_E_PROTOCOL;
    return lr_buf_append(&s->line, p, n);
}

static const char *find(const char *p, const char *end, char c)
{
    const char *q = memchr(p, c, (size_t)(end - p));
    return q ? q : end;
}

static const char *next_eol(struct eol_scan *sc, const char *p,
                            const char *end)
{
    if (sc->lf < p)
        sc->lf = find(p, end, '\n');
    if (sc->cr < p)
        sc->cr = find(p, end, '\r');
    const char *eol = sc->lf < sc->cr ? sc->lf : sc->cr;
    return eol < end ? eol : NULL;
}

/* Step over the line end at eol; returns where the next line starts. */
static const char *skip_eol(struct lr_sse *s, const char *eol,
                            const char *end)
{
    if (*eol == '\n')
        return eol + 1;
    if (eol + 1 == end) {
        s->last_was_cr = 1;
        return end;
    }
    return eol[1] == '\n' ? eol + 2 : eol + 1;
}

int lr_sse_feed(struct lr_sse *s, const char *bytes, size_t len,
                lr_sse_event_fn fn, void *user)
{
    if (len == 0)
        return LR_OK;
    const char *p = bytes;
    const char *end = bytes + len;
    if (s->last_was_cr) {
        s->last_was_cr = 0;
        if (*p == '\n')
            p++;
    }
    struct eol_scan sc = { find(p, end, '\n'), find(p, end, '\r') };
    while (p < end) {
        const char *eol = next_eol(&sc, p, end);
        if (!eol)
            return keep_partial(s, p, (size_t)(end - p));
        int rc = end_line(s, p, (size_t)(eol - p), fn, user);
        p = skip_eol(s, eol, end);
        if (rc != LR_OK)
            return rc;
    }
    return LR_OK;
}

int lr_sse_finish(struct lr_sse *s, int dispatch_partial,
                  lr_sse_event_fn fn, void *user)
{
    int rc = LR_OK;
    if (dispatch_partial && s->line.len)
        rc = process_line(s, s->line.data, s->line.len, fn, user);
    if (dispatch_partial && rc == LR_OK)
        rc = dispatch(s, fn, user);
    lr_buf_reset(&s->line);
    reset_event(s);
    s->last_was_cr = 0;
    return rc;
}

int lr_sse_pending(const struct lr_sse *s)
{
    return s->line.len > 0 || s->has_data || s->event.len > 0;
}

void lr_sse_free(struct lr_sse *s)
{
    lr_buf_free(&s->line);
    lr_buf_free(&s->event);
    lr_buf_free(&s->data);
    s->has_data = 0;
    s->last_was_cr = 0;
}
