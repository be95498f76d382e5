/*
 * transfer.h - one HTTP exchange of one attempt on curl's multi
 * interface: request set-up from the provider's struct lr_http_request,
 * response headers captured, the body either buffered (bounded) or, for a
 * 2xx text/event-stream answer, framed into SSE events and handed to the
 * provider's stream_event as it arrives.
 */
#ifndef LR_CORE_TRANSFER_H
#define LR_CORE_TRANSFER_H

#include <curl/curl.h>

#include "llmroute_plugin.h"
#include "sse.h"

struct lr_target;
struct lr_loop;
struct lr_hdr_cache;

/* Called with each piece of new visible text; nonzero cancels. */
typedef int (*lr_xfer_delta_fn)(void *job, const char *text, size_t len);

struct lr_transfer {
    CURL *easy;
    struct curl_slist *hdr_list;
    struct lr_hdr_cache *hdr_cached;      /* hdr_list is the loop's */
    struct lr_http_request hreq;
    const struct lr_target *target;
    char errbuf[CURL_ERROR_SIZE];

    /* response */
    long status;
    struct lr_buf hdr_names, hdr_values;  /* NUL-separated */
    size_t n_headers;
    struct lr_header *headers;            /* built by lr_transfer_headers */
    size_t cap_headers;
    struct lr_buf body;
    size_t max_body;

    /* streaming */
    int want_stream;
    int mode_known, sse_mode;
    struct lr_sse sse;
    void *pstate;
    int pstate_live;
    int stream_done;
    size_t delivered;                     /* bytes of text handed out */
    size_t received;                      /* body bytes, against max_body */
    struct lr_result result;
    struct lr_buf delta;
    lr_xfer_delta_fn on_delta;
    void *job;
    enum lr_status abort_status;          /* why we stopped curl, or OK */
    char abort_msg[160];
};

/* Prepare t for an attempt on target with key key_idx (LR_NO_KEY: none),
   with an easy handle of loop.  The caller has filled t->hreq through the
   provider. */
int lr_transfer_setup(struct lr_transfer *t, struct lr_loop *loop,
                      const struct lr_target *target, size_t key_idx,
                      int64_t timeout_ms, size_t max_body, char *err,
                      size_t errlen);
/* The TLS checks an attempt on target runs with: CURLOPT_SSL_VERIFYPEER
   1 and CURLOPT_SSL_VERIFYHOST 2, or both 0 for tls_verify = false. */
void lr_transfer_tls_opts(const struct lr_target *target, long *verify_peer,
                          long *verify_host);
/* curl's write and header callbacks (set once per easy handle). */
size_t lr_transfer_on_body(char *p, size_t size, size_t n, void *ud);
size_t lr_transfer_on_header(char *p, size_t size, size_t n, void *ud);
/* Headers as an array valid until the transfer is reset. */
const struct lr_header *lr_transfer_headers(struct lr_transfer *t);
const char *lr_transfer_header(struct lr_transfer *t, const char *name);
/* End of a 2xx SSE body: dispatch a pending last event. */
int lr_transfer_finish_stream(struct lr_transfer *t);
/* End the attempt: release everything but the easy handle, which is
   returned for reuse (NULL when none) and goes back to its loop
   (lr_loop_give_easy), and the attempt buffers, which are kept empty for
   the next attempt. */
CURL *lr_transfer_reset(struct lr_transfer *t);
/* Reset, and free the kept buffers too (the job is going away). */
void lr_transfer_free(struct lr_transfer *t);
void lr_result_init(struct lr_result *r);
void lr_result_free(struct lr_result *r);

#endif
