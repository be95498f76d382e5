/*
 * url.c - masking credentials in a base_url before it is shown.
 *
 * Users put credentials in a base_url: "https://user:secret@host/v1"
 * for a proxy, "?key=AIza..." as Gemini's own examples do.  The core
 * shows a base_url in a few places only (describe JSON, hence `check`;
 * load errors; load-time warnings), and the providers use it only to
 * build the request, so each of those places masks it here.  Not the
 * secrets registry (secrets.c): it ignores values shorter than 8
 * characters (a short proxy password would show), and it redacts a value
 * wherever it appears, so registering query values such as Azure's
 * "api-version=2024-06-01" would garble every date in every message.
 * Here the URL's own structure says what to mask, whatever its length.
 */
#include "url.h"

#include <string.h>

struct out {
    char *p;
    size_t len, cap;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->len + 1 >= o->cap)
        return;
    size_t room = o->cap - 1 - o->len;
    n = n < room ? n : room;
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

static void put_mask(struct out *o)
{
    put(o, LR_URL_MASK, sizeof LR_URL_MASK - 1);
}

/* "?a=1&b" -> "?a=***&***"; q starts after '?', ends at '#' or NUL. */
static void put_query(struct out *o, const char *q, size_t n)
{
    put(o, "?", 1);
    size_t i = 0;
    while (i <= n) {
        size_t end = i;
        while (end < n && q[end] != '&' && q[end] != ';')
            end++;
        const char *eq = memchr(q + i, '=', end - i);
        if (eq) {
            put(o, q + i, (size_t)(eq - (q + i)) + 1);
            put_mask(o);
        }
        else if (end > i)
            put_mask(o);
        if (end < n)
            put(o, q + end, 1);
        i = end + 1;
    }
}

char *lr_url_redact(const char *url, char *out, size_t outlen)
{
    struct out o = {out, 0, outlen};
    if (!outlen)
        return out;
    out[0] = '\0';
    if (!url)
        return out;
    const char *auth = strstr(url, "://");
    auth = auth ? auth + 3 : url;
    put(&o, url, (size_t)(auth - url));
    size_t alen = strcspn(auth, "/?#");
    const char *at = NULL;
    for (size_t i = 0; i < alen; i++)
        if (auth[i] == '@')
            at = auth + i;              /* the last one ends the userinfo */
    if (at) {
        put_mask(&o);
        put(&o, at, alen - (size_t)(at - auth));
    }
    else
        put(&o, auth, alen);
    const char *rest = auth + alen;
    size_t plen = strcspn(rest, "?#");
    put(&o, rest, plen);
    rest += plen;
    if (*rest == '?') {
        size_t qlen = strcspn(rest + 1, "#");
        put_query(&o, rest + 1, qlen);
        rest += 1 + qlen;
    }
    if (*rest == '#') {
        put(&o, "#", 1);
        put_mask(&o);
    }
    return out;
}
