/*
 * timer_heap.c - intrusive binary min-heap of timers, ordered by (at, seq).
 */
#include "timer_heap.h"

#include <stdlib.h>

#include "llmroute_plugin.h"

static int earlier(const struct lr_timer *a, const struct lr_timer *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void place(struct lr_timer_heap *h, size_t i, struct lr_timer *t)
{
    h->v[i] = t;
    t->slot = i + 1;
}

static void sift_up(struct lr_timer_heap *h, size_t i)
{
    struct lr_timer *t = h->v[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!earlier(t, h->v[parent]))
            break;
        place(h, i, h->v[parent]);
        i = parent;
    }
    place(h, i, t);
}

static void sift_down(struct lr_timer_heap *h, size_t i)
{
    struct lr_timer *t = h->v[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && earlier(h->v[c + 1], h->v[c]))
            c++;
        if (!earlier(h->v[c], t))
            break;
        place(h, i, h->v[c]);
        i = c;
    }
    place(h, i, t);
}

void lr_timer_disarm(struct lr_timer_heap *h, struct lr_timer *t)
{
    if (!t->slot)
        return;
    size_t i = t->slot - 1;
    t->slot = 0;
    h->n--;
    if (i == h->n)
        return;
    place(h, i, h->v[h->n]);
    if (i > 0 && earlier(h->v[i], h->v[(i - 1) / 2]))
        sift_up(h, i);
    else
        sift_down(h, i);
}

int lr_timer_arm(struct lr_timer_heap *h, struct lr_timer *t, int64_t at)
{
    lr_timer_disarm(h, t);
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        struct lr_timer **v = realloc(h->v, cap * sizeof *v);
        if (!v)
            return LR_E_NOMEM;
        h->v = v;
        h->cap = cap;
    }
    t->at = at;
    t->seq = h->next_seq++;
    place(h, h->n++, t);
    sift_up(h, h->n - 1);
    return LR_OK;
}

struct lr_timer *lr_timer_peek(const struct lr_timer_heap *h)
{
    return h->n ? h->v[0] : NULL;
}

size_t lr_timer_run(struct lr_timer_heap *h, int64_t now)
{
    size_t fired = 0;
    struct lr_timer *t;
    while ((t = lr_timer_peek(h)) && t->at <= now) {
        lr_timer_disarm(h, t);
        fired++;
        t->fire(t);
    }
    return fired;
}

void lr_timer_heap_free(struct lr_timer_heap *h)
{
    for (size_t i = 0; i < h->n; i++)
        h->v[i]->slot = 0;
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}
