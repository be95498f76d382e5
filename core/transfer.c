/*
 * transfer.c - curl easy-handle set-up and the write/header callbacks of
 * one attempt.  Callbacks never finish a job: they record why they
 * stopped (abort_status) and make curl fail the transfer; the engine sees
 * the result through curl_multi_info_read() and acts on the engine
 * thread's own terms.
 */
#include "transfer.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "cnum.h"
#include "loop.h"
#include "router.h"
#include "utf8.h"

void lr_result_init(struct lr_result *r)
{
    memset(r, 0, sizeof *r);
    r->retry_after_ms = -1;
    r->prompt_tokens = -1;
    r->completion_tokens = -1;
    r->rl_remaining_requests = r->rl_remaining_tokens = -1;
    r->rl_reset_requests_ms = r->rl_reset_tokens_ms = -1;
}

void lr_result_free(struct lr_result *r)
{
    lr_buf_free(&r->error_message);
    lr_buf_free(&r->text);
    lr_buf_free(&r->tool_calls_json);
    lr_buf_free(&r->model);
    lr_buf_free(&r->request_id);
}

static void clear_headers(struct lr_transfer *t)
{
    lr_buf_reset(&t->hdr_names);
    lr_buf_reset(&t->hdr_values);
    t->n_headers = 0;
}

size_t lr_transfer_on_header(char *p, size_t size, size_t n, void *ud)
{
    struct lr_transfer *t = ud;
    size_t len = size * n;
    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        clear_headers(t);       /* a new response (e.g. after 100) */
        return len;
    }
    char *colon = memchr(p, ':', len);
    if (!colon || colon == p)
        return len;
    size_t nl = (size_t)(colon - p);
    const char *v = colon + 1, *end = p + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && isspace((unsigned char)end[-1]))
        end--;
    /* Once per header line of every answer: copy name (lowercased)
       and value straight in, one reservation each. */
    size_t vl = (size_t)(end - v);
    if (lr_buf_reserve(&t->hdr_names, nl + 1) != LR_OK ||
        lr_buf_reserve(&t->hdr_values, vl + 1) != LR_OK)
        return 0;
    char *dst = t->hdr_names.data + t->hdr_names.len;
    for (size_t i = 0; i < nl; i++) {
        char c = p[i];
        dst[i] = c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
    }
    dst[nl] = '\0';
    t->hdr_names.len += nl + 1;
    t->hdr_names.data[t->hdr_names.len] = '\0';
    memcpy(t->hdr_values.data + t->hdr_values.len, v, vl);
    t->hdr_values.len += vl;
    t->hdr_values.data[t->hdr_values.len++] = '\0';
    t->hdr_values.data[t->hdr_values.len] = '\0';
    t->n_headers++;
    return len;
}

const struct lr_header *lr_transfer_headers(struct lr_transfer *t)
{
    if (t->n_headers + 1 > t->cap_headers) {
        free(t->headers);
        t->cap_headers = 0;
        t->headers = calloc(t->n_headers + 8, sizeof *t->headers);
        if (!t->headers)
            return NULL;
        t->cap_headers = t->n_headers + 8;
    }
    memset(&t->headers[t->n_headers], 0, sizeof *t->headers);
    const char *n = lr_buf_str(&t->hdr_names);
    const char *v = lr_buf_str(&t->hdr_values);
    for (size_t i = 0; i < t->n_headers; i++) {
        t->headers[i].name = n;
        t->headers[i].value = v;
        n += strlen(n) + 1;
        v += strlen(v) + 1;
    }
    return t->headers;
}

const char *lr_transfer_header(struct lr_transfer *t, const char *name)
{
    const char *n = lr_buf_str(&t->hdr_names);
    const char *v = lr_buf_str(&t->hdr_values);
    const char *found = NULL;
    for (size_t i = 0; i < t->n_headers; i++) {
        if (strcmp(n, name) == 0)
            found = v;          /* the last one wins, as in most clients */
        n += strlen(n) + 1;
        v += strlen(v) + 1;
    }
    return found;
}

static void decide_mode(struct lr_transfer *t)
{
    t->mode_known = 1;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->status);
    const char *ct = lr_transfer_header(t, "content-type");
    t->sse_mode = t->want_stream && t->status >= 200 && t->status < 300 &&
                  ct && strstr(ct, "text/event-stream");
}

static int on_event(const struct lr_sse_event *ev, void *ud)
{
    struct lr_transfer *t = ud;
    const struct lr_provider_ops *ops = t->target->ops;
    lr_buf_reset(&t->delta);
    locale_t loc = lr_cnum_enter();
    int rc = ops->stream_event(t->target->inst, t->pstate, ev, &t->result,
                               &t->delta);
    lr_cnum_leave(loc);
    if (rc == LR_STREAM_DONE)
        t->stream_done = 1;
    else if (rc != LR_OK) {
        t->abort_status = LR_E_PROTOCOL;
        snprintf(t->abort_msg, sizeof t->abort_msg,
                 "provider could not read a stream event");
        return rc;
    }
    if (t->delta.len) {
        if (lr_utf8_scrub(&t->delta) != LR_OK ||
            lr_buf_append(&t->result.text, t->delta.data, t->delta.len))
            return LR_E_NOMEM;
        t->delivered += t->delta.len;
        if (t->on_delta && t->on_delta(t->job, t->delta.data, t->delta.len)) {
            t->abort_status = LR_E_CANCELLED;
            snprintf(t->abort_msg, sizeof t->abort_msg,
                     "cancelled by the delta callback");
            return LR_E_CANCELLED;
        }
    }
    if (t->result.error != LR_OK) {
        t->abort_status = t->result.error;
        return t->result.error;
    }
    return LR_OK;
}

size_t lr_transfer_on_body(char *p, size_t size, size_t n, void *ud)
{
    struct lr_transfer *t = ud;
    size_t len = size * n;
    if (!t->mode_known)
        decide_mode(t);
    /* A stream counts too: its text piles up in result.text. */
    t->received += len;
    if (t->received > t->max_body) {
        t->abort_status = LR_E_PROTOCOL;
        snprintf(t->abort_msg, sizeof t->abort_msg,
                 "response body larger than %zu bytes (max_response_bytes)",
                 t->max_body);
        return 0;
    }
    if (t->sse_mode)
        return lr_sse_feed(&t->sse, p, len, on_event, t) == LR_OK ? len : 0;
    return lr_buf_append(&t->body, p, len) == LR_OK ? len : 0;
}

static int build_header_list(struct lr_transfer *t)
{
    const char *p = lr_buf_str(&t->hreq.headers);
    const char *end = p + t->hreq.headers.len;
    char line[1024];
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl : end) - p);
        if (n) {
            char *big = n < sizeof line ? line : malloc(n + 1);
            if (!big)
                return LR_E_NOMEM;
            memcpy(big, p, n);
            big[n] = '\0';
            struct curl_slist *l = curl_slist_append(t->hdr_list, big);
            if (big != line)
                free(big);
            if (!l)
                return LR_E_NOMEM;
            t->hdr_list = l;
        }
        p = nl ? nl + 1 : end;
    }
    /* No 100-continue round trip for large bodies. */
    struct curl_slist *l = curl_slist_append(t->hdr_list, "Expect:");
    if (!l)
        return LR_E_NOMEM;
    t->hdr_list = l;
    return LR_OK;
}

/* The header list: the loop's cached one when the provider sent the same
   header text as last time on this target and key, else a new one that
   the cache takes over when it can. */
static int header_list(struct lr_transfer *t, struct lr_loop *loop,
                       size_t key_idx)
{
    const char *text = lr_buf_str(&t->hreq.headers);
    size_t len = t->hreq.headers.len;
    t->hdr_list = lr_loop_headers(loop, t->target, key_idx, text, len,
                                  &t->hdr_cached);
    if (t->hdr_list)
        return LR_OK;
    if (build_header_list(t) != LR_OK)
        return LR_E_NOMEM;
    t->hdr_cached = lr_loop_headers_offer(loop, t->target, key_idx, text,
                                          len, t->hdr_list);
    return LR_OK;
}

void lr_transfer_tls_opts(const struct lr_target *target, long *verify_peer,
                          long *verify_host)
{
    /* curl's defaults, said out loud so no handle can inherit anything
       else: a certificate chain to a trusted CA and a name that matches
       (2 is the only "on" value of VERIFYHOST). */
    *verify_peer = target->tls_insecure ? 0L : 1L;
    *verify_host = target->tls_insecure ? 0L : 2L;
}

int lr_transfer_setup(struct lr_transfer *t, struct lr_loop *loop,
                      const struct lr_target *target, size_t key_idx,
                      int64_t timeout_ms, size_t max_body, char *err,
                      size_t errlen)
{
    t->target = target;
    t->max_body = max_body;
    t->easy = lr_loop_take_easy(loop);
    if (!t->easy || header_list(t, loop, key_idx) != LR_OK) {
        snprintf(err, errlen, "out of memory setting up the request");
        return LR_E_NOMEM;
    }
    lr_sse_init(&t->sse, max_body);
    /* Only what differs between attempts: the handle came configured
       from the loop (lr_loop_take_easy). */
    CURL *e = t->easy;
    curl_easy_setopt(e, CURLOPT_URL, t->hreq.url.data);
    if (!t->hreq.method || strcmp(t->hreq.method, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, lr_buf_str(&t->hreq.body));
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)t->hreq.body.len);
    }
    else {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, t->hreq.method);
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->hdr_list);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)target->connect_timeout_ms);
    /* Per attempt: handles move between targets.  curl never reuses a
       connection made with other TLS settings. */
    long peer, host;
    lr_transfer_tls_opts(target, &peer, &host);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, peer);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, host);
    t->errbuf[0] = '\0';
    return LR_OK;
}

/* Buffers every attempt fills from scratch.  They are emptied, not
   freed, between attempts (and between the jobs of a blocking call's
   loop, which recycles its job struct), so a request does not allocate
   them again; one that grew large is freed. */
#define KEEP_MAX (64 * 1024)

struct kept {
    struct lr_buf url, hdrs, req_body, names, values, body, delta;
    struct lr_header *headers;
    size_t cap_headers;
};

static void keep(struct lr_buf *b)
{
    if (b->cap > KEEP_MAX)
        lr_buf_free(b);
    else
        lr_buf_reset(b);
}

CURL *lr_transfer_reset(struct lr_transfer *t)
{
    CURL *easy = t->easy;
    if (t->pstate_live && t->target->ops->stream_end)
        t->target->ops->stream_end(t->target->inst, t->pstate);
    if (t->hdr_cached)
        lr_loop_headers_done(t->hdr_cached);
    else
        curl_slist_free_all(t->hdr_list);
    lr_sse_free(&t->sse);
    lr_result_free(&t->result);
    struct kept k = {t->hreq.url, t->hreq.headers, t->hreq.body,
                     t->hdr_names, t->hdr_values, t->body, t->delta,
                     t->headers, t->cap_headers};
    keep(&k.url);
    keep(&k.hdrs);
    keep(&k.req_body);
    keep(&k.names);
    keep(&k.values);
    keep(&k.body);
    keep(&k.delta);
    memset(t, 0, sizeof *t);
    t->hreq.url = k.url;
    t->hreq.headers = k.hdrs;
    t->hreq.body = k.req_body;
    t->hdr_names = k.names;
    t->hdr_values = k.values;
    t->body = k.body;
    t->delta = k.delta;
    t->headers = k.headers;
    t->cap_headers = k.cap_headers;
    return easy;
}

void lr_transfer_free(struct lr_transfer *t)
{
    lr_transfer_reset(t);
    lr_buf_free(&t->hreq.url);
    lr_buf_free(&t->hreq.headers);
    lr_buf_free(&t->hreq.body);
    lr_buf_free(&t->hdr_names);
    lr_buf_free(&t->hdr_values);
    lr_buf_free(&t->body);
    lr_buf_free(&t->delta);
    free(t->headers);
    memset(t, 0, sizeof *t);
}

int lr_transfer_finish_stream(struct lr_transfer *t)
{
    /* dispatch_partial: Gemini ends its last event at EOF, without the
       blank line. */
    return lr_sse_finish(&t->sse, 1, on_event, t);
}
