/*
 * serve_auth.c - who is calling the gateway.
 *
 * With [client NAME] sections, a request must carry
 * "Authorization: Bearer KEY" matching one client's key (or no header at
 * all when allow_anonymous = true).  The key is compared with every
 * client's key, each byte of each, so the time taken tells an attacker
 * neither which client nor how many leading bytes matched.  Without any
 * client, only loopback peers are served unless allow_anonymous = true:
 * an unconfigured gateway must not become an open proxy to paid APIs.
 */
#include <string.h>
#include <strings.h>

#include "serve.h"

int serve_ct_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    /* Walk a's length whatever b is; b is read cyclically so the loop
       never depends on blen (an empty b compares against itself). */
    const unsigned char *ua = (const unsigned char *)a;
    const unsigned char *ub = (const unsigned char *)b;
    volatile unsigned char diff = (unsigned char)(alen != blen);
    for (size_t i = 0; i < alen; i++)
        diff |= (unsigned char)(ua[i] ^ (blen ? ub[i % blen] : ua[i]));
    return diff == 0 && alen == blen;
}

/* The token of "Bearer TOKEN" (scheme case-insensitive), or NULL. */
static const char *bearer(const char *h)
{
    if (!h)
        return NULL;
    while (*h == ' ')
        h++;
    if (strncasecmp(h, "Bearer ", 7) != 0)
        return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    return *h ? h : NULL;
}

enum serve_auth serve_auth_check(const struct serve_config *c,
                                 const char *authorization, int loopback,
                                 const struct serve_client **who)
{
    *who = NULL;
    if (c->n_clients == 0)
        return c->allow_anonymous || loopback ? SERVE_AUTH_OK
                                              : SERVE_AUTH_NOT_LOOPBACK;
    const char *tok = bearer(authorization);
    if (!tok)
        return authorization || !c->allow_anonymous ? SERVE_AUTH_MISSING
                                                    : SERVE_AUTH_OK;
    size_t len = strlen(tok);
    while (len && tok[len - 1] == ' ')
        len--;
    const struct serve_client *found = NULL;
    for (size_t i = 0; i < c->n_clients; i++) {
        const struct serve_client *cl = &c->clients[i];
        int eq = serve_ct_equal(tok, len, cl->key, cl->key_len);
        if (eq && !found)
            found = cl;
    }
    *who = found;
    return found ? SERVE_AUTH_OK : SERVE_AUTH_WRONG;
}
