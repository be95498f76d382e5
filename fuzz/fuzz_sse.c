/*
 * fuzz_sse.c - libFuzzer target: the SSE framer (core/sse.c).
 *
 * Byte 0 picks max_event (small values reach the size limit), byte 1
 * where the stream is cut and whether a partial last event is
 * dispatched; the rest is the stream.  It is framed twice, whole and in
 * two chunks, and both runs must give the same events and the same
 * status, since sse.h promises the outcome never depends on where the
 * chunks were cut.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
    uint64_t hash;
    size_t events;
};

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

static int on_event(const struct lr_sse_event *ev, void *user)
{
    struct seen *s = user;
    if (ev->data[ev->data_len] != '\0' || !ev->event)
        abort();
    s->hash = fnv(s->hash, ev->event, strlen(ev->event) + 1);
    s->hash = fnv(s->hash, ev->data, ev->data_len);
    s->events++;
    return LR_OK;
}

static int frame(const char *p, size_t len, size_t cut, size_t max,
                 int partial, struct seen *s)
{
    struct lr_sse sse;
    lr_sse_init(&sse, max);
    s->hash = 14695981039346656037ULL;
    s->events = 0;
    int rc = lr_sse_feed(&sse, p, cut, on_event, s);
    if (rc == LR_OK)
        rc = lr_sse_feed(&sse, p + cut, len - cut, on_event, s);
    if (rc == LR_OK)
        rc = lr_sse_finish(&sse, partial, on_event, s);
    lr_sse_free(&sse);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t max = data[0] < 128 ? (size_t)data[0] + 1 : 0;
    int partial = data[1] & 1;
    const char *p = (const char *)data + 2;
    size_t len = size - 2;
    size_t cut = len ? (data[1] >> 1) % (len + 1) : 0;
    struct seen whole, split;
    int rc1 = frame(p, len, len, max, partial, &whole);
    int rc2 = frame(p, len, cut, max, partial, &split);
    if (rc1 != rc2 || (rc1 == LR_OK && (whole.events != split.events ||
                                        whole.hash != split.hash))) {
        fprintf(stderr, "fuzz_sse: cut at %zu changed the outcome: "
                "rc %d/%d events %zu/%zu\n", cut, rc1, rc2, whole.events,
                split.events);
        abort();
    }
    return 0;
}
