/*
 * loop.c - one event loop (see loop.h): the multi handle, timers, the
 * easy-handle pool and the header-list cache.
 *
 * Easy handles are configured once, when created, with the options that
 * never change (callbacks, user agent, protocols, ...); an attempt sets
 * only its own (URL, body, headers, timeouts, callback data) in
 * lr_transfer_setup, so a recycled handle needs no curl_easy_reset.
 */
#include "loop.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "llmroute.h"
#include "router.h"
#include "transfer.h"

#define EASY_POOL_MAX 256

static size_t max_keys(const struct lr_router *rt)
{
    size_t m = 1;
    for (size_t i = 0; i < rt->n_targets; i++)
        if (rt->targets[i].n_keys > m)
            m = rt->targets[i].n_keys;
    return m;
}

static void global_init(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
}

void lr_curl_global_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, global_init);
}

#define LR_LOOP_IDLE_CONNS 256L

int lr_loop_init(struct lr_loop *l, struct lr_router *rt)
{
    lr_curl_global_init();
    memset(l, 0, sizeof *l);
    l->rt = rt;
    l->keys_per_target = max_keys(rt);
    l->n_hdrs = rt->n_targets * l->keys_per_target;
    if (l->n_hdrs && !(l->hdrs = calloc(l->n_hdrs, sizeof *l->hdrs)))
        return LR_E_NOMEM;
    if (!(l->multi = curl_multi_init())) {
        free(l->hdrs);
        return LR_E_NOMEM;
    }
    curl_multi_setopt(l->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
    /* curl sizes the idle-connection cache at 4 x the transfers in the
       multi handle at the moment; a job removes its transfer when done,
       so when load dips the cache shrinks and curl closes connections it
       is about to need again (hundreds of TIME_WAITs at 64 concurrent
       gateway requests).  A fixed bound keeps them; in-flight transfers
       are not limited by it. */
    curl_multi_setopt(l->multi, CURLMOPT_MAXCONNECTS, LR_LOOP_IDLE_CONNS);
    int rc = lr_loop_events_init(l);
    if (rc != LR_OK) {
        curl_multi_cleanup(l->multi);
        free(l->hdrs);
    }
    return rc;
}

void lr_loop_fini(struct lr_loop *l)
{
    for (size_t i = 0; i < l->n_easy; i++)
        curl_easy_cleanup(l->easy_pool[i]);
    free(l->easy_pool);
    for (size_t i = 0; i < l->n_hdrs; i++) {
        free(l->hdrs[i].text);
        curl_slist_free_all(l->hdrs[i].list);
    }
    free(l->hdrs);
    for (struct lr_job *job = l->spare_jobs, *n; job; job = n) {
        n = job->next;
        lr_transfer_free(&job->xfer);
        free(job);
    }
    lr_timer_heap_free(&l->timers);
    /* The multi handle closes its cached connections through the loop's
       close callback, so the event set goes after it. */
    curl_multi_cleanup(l->multi);
    lr_loop_events_fini(l);
    memset(l, 0, sizeof *l);
}

static CURL *new_easy(struct lr_loop *l)
{
    CURL *e = curl_easy_init();
    if (!e)
        return NULL;
    lr_loop_events_easy(l, e);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "llmroute/" LR_VERSION);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, lr_transfer_on_body);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, lr_transfer_on_header);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    /* curl's default, said out loud: a redirect would carry the API key
       wherever the upstream points; outcome.c reports it instead. */
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    return e;
}

CURL *lr_loop_take_easy(struct lr_loop *l)
{
    return l->n_easy ? l->easy_pool[--l->n_easy] : new_easy(l);
}

void lr_loop_give_easy(struct lr_loop *l, CURL *easy)
{
    if (!easy)
        return;
    /* Nothing of the finished attempt may be reachable from an idle
       handle: its buffers and header list are gone. */
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
    if (l->n_easy == l->cap_easy && l->cap_easy < EASY_POOL_MAX) {
        size_t cap = l->cap_easy ? l->cap_easy * 2 : 16;
        CURL **v = realloc(l->easy_pool, cap * sizeof *v);
        if (v) {
            l->easy_pool = v;
            l->cap_easy = cap;
        }
    }
    if (l->n_easy < l->cap_easy)
        l->easy_pool[l->n_easy++] = easy;
    else
        curl_easy_cleanup(easy);
}

static struct lr_hdr_cache *hdr_slot(struct lr_loop *l,
                                     const struct lr_target *t,
                                     size_t key_idx)
{
    size_t ti = (size_t)(t - l->rt->targets);
    size_t ki = key_idx < l->keys_per_target ? key_idx : 0;
    size_t i = ti * l->keys_per_target + ki;
    return i < l->n_hdrs ? &l->hdrs[i] : NULL;
}

struct curl_slist *lr_loop_headers(struct lr_loop *l,
                                   const struct lr_target *t, size_t key_idx,
                                   const char *text, size_t len,
                                   struct lr_hdr_cache **cached)
{
    struct lr_hdr_cache *c = hdr_slot(l, t, key_idx);
    *cached = NULL;
    if (!c || !c->list || c->len != len || memcmp(c->text, text, len) != 0)
        return NULL;
    c->users++;
    *cached = c;
    return c->list;
}

struct lr_hdr_cache *lr_loop_headers_offer(struct lr_loop *l,
                                           const struct lr_target *t,
                                           size_t key_idx, const char *text,
                                           size_t len,
                                           struct curl_slist *list)
{
    struct lr_hdr_cache *c = hdr_slot(l, t, key_idx);
    /* An entry in use stays: its list is on the wire. */
    if (!c || c->users)
        return NULL;
    char *copy = malloc(len + 1);
    if (!copy)
        return NULL;
    memcpy(copy, text, len);
    copy[len] = '\0';
    free(c->text);
    curl_slist_free_all(c->list);
    c->text = copy;
    c->len = len;
    c->list = list;
    c->users = 1;
    return c;
}

void lr_loop_headers_done(struct lr_hdr_cache *c)
{
    if (c && c->users)
        c->users--;
}
