/*
 * mock_send.c - turns a mock reply into a libmicrohttpd response, with the
 * pacing and truncation its script entry asks for.
 *
 * A plain answer is one buffer handed to MHD.  A streamed answer (SSE) or
 * a truncated one is sent by a content reader, one piece per call, so
 * that chunk_delay_ms can pause between SSE events; the reader waits in
 * the connection's own thread (the server runs a thread per connection)
 * through mock_nap(), which returns early when the mock stops.
 *
 * truncate_at cuts the body after N bytes and ends the reader with
 * MHD_CONTENT_READER_END_WITH_ERROR, which makes MHD close the
 * connection: a streamed (chunked) body then lacks its final chunk, and a
 * plain body keeps a Content-Length it never reaches, so a client always
 * sees a broken transfer, never a clean short answer.
 */
#include "mock_internal.h"

#include <microhttpd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A reply sent piece by piece from an MHD content reader. */
struct sender {
    struct mock_upstream *m;
    struct mock_reply reply;
    size_t idx, off;
    uint64_t sent;
    long limit;  /* truncate_at, -1: none */
    long gap_ms; /* pause before every piece but the first */
};

static ssize_t send_more(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct sender *s = cls;
    const struct mock_reply *r = &s->reply;
    if (s->limit >= 0 && s->sent >= (uint64_t)s->limit)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    while (s->idx < r->npieces && s->off == r->pieces[s->idx].len) {
        s->idx++;
        s->off = 0;
    }
    if (s->idx == r->npieces)
        return MHD_CONTENT_READER_END_OF_STREAM;
    int between = s->off == 0 && s->idx > 0;
    if (between && s->gap_ms > 0 && mock_nap(s->m, s->gap_ms))
        return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = r->pieces[s->idx].len - s->off;
    if (n > max)
        n = max;
    if (s->limit >= 0 && n > (uint64_t)s->limit - s->sent)
        n = (size_t)((uint64_t)s->limit - s->sent);
    memcpy(buf, r->pieces[s->idx].data + s->off, n);
    s->off += n;
    s->sent += n;
    return (ssize_t)n;
}

static void sender_free(void *cls)
{
    struct sender *s = cls;
    mock_reply_free(&s->reply);
    free(s);
}

/* A response for reply, which it takes over (freed on failure too). */
static struct MHD_Response *make_response(struct mock_upstream *m,
                                          const struct mock_entry *e,
                                          struct mock_reply *reply)
{
    struct MHD_Response *r;
    if (!reply->streamed && e->truncate_at < 0 && reply->npieces == 1) {
        r = MHD_create_response_from_buffer(reply->pieces[0].len,
                                            reply->pieces[0].data,
                                            MHD_RESPMEM_MUST_FREE);
        if (r)
            reply->npieces = 0; /* MHD owns the data now */
        mock_reply_free(reply);
        return r;
    }
    struct sender *s = calloc(1, sizeof *s);
    if (!s) {
        mock_reply_free(reply);
        return NULL;
    }
    uint64_t size = 0;
    for (size_t i = 0; i < reply->npieces; i++)
        size += reply->pieces[i].len;
    s->m = m;
    s->reply = *reply;
    s->limit = e->truncate_at;
    s->gap_ms = reply->streamed ? e->chunk_delay_ms : 0;
    /* A known size that is never reached makes the cut visible. */
    r = MHD_create_response_from_callback(
        reply->streamed ? MHD_SIZE_UNKNOWN : size, 4096, send_more, s,
        sender_free);
    if (!r)
        sender_free(s);
    return r;
}

static void add_headers(struct MHD_Response *r, const struct mock_entry *e,
                        int streamed, long window_left_ms)
{
    const char *type = e->content_type ? e->content_type
                       : streamed      ? "text/event-stream"
                                       : "application/json";
    int own_type = 0;
    const cJSON *h;
    cJSON_ArrayForEach(h, e->headers)
    {
        own_type |= strcasecmp(h->string, "Content-Type") == 0;
        char *filled = window_left_ms >= 0
                           ? mock_fill_window(h->valuestring, window_left_ms)
                           : NULL;
        MHD_add_response_header(r, h->string,
                                filled ? filled : h->valuestring);
        free(filled);
    }
    if (!own_type)
        MHD_add_response_header(r, "Content-Type", type);
    if (streamed)
        MHD_add_response_header(r, "Cache-Control", "no-cache");
}

struct MHD_Response *mock_response(struct mock_upstream *m,
                                   const struct mock_entry *e,
                                   struct mock_reply *reply,
                                   long window_left_ms)
{
    int streamed = reply->streamed;
    struct MHD_Response *r = make_response(m, e, reply);
    if (r)
        add_headers(r, e, streamed, window_left_ms);
    return r;
}
