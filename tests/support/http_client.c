/*
 * http_client.c - see http_client.h.
 */
#include "http_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

static size_t on_body(char *p, size_t size, size_t n, void *user)
{
    struct http *h = user;
    char *b = realloc(h->body, h->len + size * n + 1);
    if (!b)
        return 0;
    memcpy(b + h->len, p, size * n);
    h->body = b;
    h->len += size * n;
    b[h->len] = '\0';
    return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *user)
{
    struct http *h = user;
    size_t k = size * n;
    if (h->hlen + k < sizeof h->headers) {
        memcpy(h->headers + h->hlen, p, k);
        h->hlen += k;
        h->headers[h->hlen] = '\0';
    }
    return k;
}

void http_to(const char *host, int port, const char *method,
             const char *path, const char *key, const char *body,
             int chunked, struct http *h)
{
    http_to_with(host, port, method, path, key, NULL, body, chunked, h);
}

void http_to_with(const char *host, int port, const char *method,
                  const char *path, const char *key, const char *extra,
                  const char *body, int chunked, struct http *h)
{
    char url[256];
    memset(h, 0, sizeof *h);
    snprintf(url, sizeof url, "http://%s:%d%s", host ? host : "127.0.0.1",
             port, path);
    CURL *c = curl_easy_init();
    if (!c) {
        h->body = calloc(1, 1);
        return;
    }
    struct curl_slist *hs = curl_slist_append(NULL,
                                              "Content-Type: application/json");
    if (key) {
        /* Sized to the key: the header-limit test sends 20 KB keys. */
        size_t n = strlen(key) + sizeof "Authorization: Bearer ";
        char *auth = malloc(n);
        if (auth) {
            snprintf(auth, n, "Authorization: Bearer %s", key);
            hs = curl_slist_append(hs, auth);
            free(auth);
        }
    }
    if (extra)
        hs = curl_slist_append(hs, extra);
    if (chunked)
        hs = curl_slist_append(hs, "Transfer-Encoding: chunked");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)HTTP_CLIENT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &h->status);
    curl_slist_free_all(hs);
    curl_easy_cleanup(c);
    if (!h->body)
        h->body = calloc(1, 1);
}

