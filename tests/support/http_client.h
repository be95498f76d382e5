/*
 * http_client.h - the small libcurl client the gateway tests talk to
 * `llmroute serve` with: one request, status, headers and body captured.
 */
#ifndef LR_TESTS_HTTP_CLIENT_H
#define LR_TESTS_HTTP_CLIENT_H

#include <stddef.h>

#define HTTP_CLIENT_TIMEOUT_MS 30000

struct http {
    long status;
    char *body;
    size_t len;
    char headers[4096];
    size_t hlen;
};

/* One request to host:port (host NULL: 127.0.0.1).  key NULL: no
   Authorization; chunked: send the body without Content-Length.  status
   0 when no answer came; body is always a malloc'd string (free it). */
void http_to(const char *host, int port, const char *method,
             const char *path, const char *key, const char *body,
             int chunked, struct http *h);
/* The same with one more request header line, "Name: value" (NULL:
   none), e.g. to size a request's headers. */
void http_to_with(const char *host, int port, const char *method,
                  const char *path, const char *key, const char *extra,
                  const char *body, int chunked, struct http *h);

#endif
