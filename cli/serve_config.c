/*
 * serve_config.c - the gateway's own sections of the router's INI file.
 *
 *   [gateway]
 *   listen              = 127.0.0.1:8080  ; HOST:PORT (--listen wins)
 *   max_body_bytes      = 1048576         ; larger request bodies: 413
 *   max_connections     = 4096            ; open client connections, 16..
 *                                         ; 1000000 (the open-files limit
 *                                         ; is raised to fit when allowed)
 *   allow_anonymous     = false           ; true: no key needed, any peer
 *   shutdown_timeout_ms = 10000           ; SIGTERM: in-flight grace
 *
 *   [client NAME]                         ; one per calling application
 *   key_env             = APP_KEY         ; env var holding its Bearer key
 *   user                = team-a          ; end-user id for budgets and
 *                                         ; per-user limits (optional)
 *   allow_user_override = false           ; true: the body's "user" wins
 *
 * The core skips these sections (core/config.c) and this file reads
 * them with inih, counting lines itself so errors say FILE:LINE (the
 * distribution's inih reports no line numbers).  A key_env that is unset
 * or empty is an error at start: a client must never be keyless by
 * accident.
 */
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "serve.h"

struct cfg_state {
    struct serve_config *c;
    const char *path;
    FILE *fp;
    int line;
    struct serve_client *cur;  /* the [client] being read, or NULL */
    int in_gateway;
    char *err;
    size_t errlen;
    int failed;
};

static void fail(struct cfg_state *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void fail(struct cfg_state *st, const char *fmt, ...)
{
    if (st->failed)
        return;
    st->failed = 1;
    int n = snprintf(st->err, st->errlen, "%s:%d: ", st->path, st->line);
    if (n < 0 || (size_t)n >= st->errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->err + n, st->errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

static int parse_bool(const char *v, int *out)
{
    if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
        !strcasecmp(v, "on") || !strcmp(v, "1"))
        *out = 1;
    else if (!strcasecmp(v, "false") || !strcasecmp(v, "no") ||
             !strcasecmp(v, "off") || !strcmp(v, "0"))
        *out = 0;
    else
        return -1;
    return 0;
}

static int parse_pos(const char *v, int64_t *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end || errno || x <= 0)
        return -1;
    *out = x;
    return 0;
}

/* A new [client NAME]; the section header is seen by the reader, since
   inih does not report sections without keys. */
static void start_section(struct cfg_state *st, const char *inner)
{
    char kind[32] = "", name[128] = "";
    st->cur = NULL;
    st->in_gateway = 0;
    if (sscanf(inner, " %31s %127s", kind, name) < 1)
        return;
    if (!strcmp(kind, "gateway")) {
        st->in_gateway = 1;
        return;
    }
    if (strcmp(kind, "client"))
        return;
    for (size_t i = 0; i < st->c->n_clients; i++)
        if (!strcmp(st->c->clients[i].name, name))
            fail(st, "duplicate [client %s]", name);
    struct serve_client *v = realloc(st->c->clients,
        (st->c->n_clients + 1) * sizeof *v);
    if (!v) {
        fail(st, "out of memory");
        return;
    }
    st->c->clients = v;
    st->cur = &v[st->c->n_clients++];
    memset(st->cur, 0, sizeof *st->cur);
    st->cur->name = strdup(name);
    if (!*name)
        fail(st, "[client] needs a name: [client NAME]");
}

static char *reader(char *str, int num, void *stream)
{
    struct cfg_state *st = stream;
    if (st->failed || !fgets(str, num, st->fp))
        return NULL;
    st->line++;
    const char *p = str;
    while (isspace((unsigned char)*p))
        p++;
    const char *close = *p == '[' ? strchr(p, ']') : NULL;
    if (close) {
        char inner[256];
        size_t n = (size_t)(close - p - 1);
        n = n < sizeof inner - 1 ? n : sizeof inner - 1;
        memcpy(inner, p + 1, n);
        inner[n] = '\0';
        start_section(st, inner);
    }
    return str;
}

static void gateway_key(struct cfg_state *st, const char *k, const char *v)
{
    struct serve_config *c = st->c;
    if (!strcmp(k, "listen")) {
        free(c->listen);
        c->listen = strdup(v);
    }
    else if (!strcmp(k, "max_body_bytes")) {
        if (parse_pos(v, &c->max_body_bytes))
            fail(st, "max_body_bytes: expected a positive whole number");
    }
    else if (!strcmp(k, "max_connections")) {
        if (parse_pos(v, &c->max_connections) || c->max_connections < 16 ||
            c->max_connections > 1000000)
            fail(st, "max_connections: expected 16 to 1000000");
    }
    else if (!strcmp(k, "shutdown_timeout_ms")) {
        if (parse_pos(v, &c->shutdown_timeout_ms))
            fail(st, "shutdown_timeout_ms: expected a positive whole "
                 "number");
    }
    else if (!strcmp(k, "allow_anonymous")) {
        if (parse_bool(v, &c->allow_anonymous))
            fail(st, "allow_anonymous: expected true or false");
    }
    else
        fail(st, "[gateway] has no key '%s' (listen, max_body_bytes, "
             "max_connections, allow_anonymous, shutdown_timeout_ms)", k);
}

/* A variable name; anything else is most likely the key itself pasted
   in, which must not be repeated in the error. */
static int is_var_name(const char *v)
{
    if (!(*v == '_' || (*v >= 'A' && *v <= 'Z') || (*v >= 'a' && *v <= 'z')))
        return 0;
    for (; *v; v++)
        if (!(*v == '_' || (*v >= 'A' && *v <= 'Z') ||
              (*v >= 'a' && *v <= 'z') || (*v >= '0' && *v <= '9')))
            return 0;
    return 1;
}

static void client_key(struct cfg_state *st, const char *k, const char *v)
{
    struct serve_client *cl = st->cur;
    if (!strcmp(k, "key_env") && !is_var_name(v))
        fail(st, "client %s: key_env must name the environment variable "
             "that holds the key (letters, digits, _), not the key itself; "
             "value not shown", cl->name);
    else if (!strcmp(k, "key_env")) {
        const char *key = getenv(v);
        if (!key || !*key) {
            fail(st, "client %s: key_env: environment variable %s is "
                 "unset or empty", cl->name, v);
            return;
        }
        free(cl->key);
        cl->key = strdup(key);
        cl->key_len = strlen(key);
    }
    else if (!strcmp(k, "user")) {
        free(cl->user);
        cl->user = strdup(v);
    }
    else if (!strcmp(k, "allow_user_override")) {
        if (parse_bool(v, &cl->allow_user_override))
            fail(st, "allow_user_override: expected true or false");
    }
    else
        fail(st, "[client %s] has no key '%s' (key_env, user, "
             "allow_user_override)", cl->name, k);
}

static int handler(void *user, const char *section, const char *name,
                   const char *value)
{
    struct cfg_state *st = user;
    (void)section;
    if (st->in_gateway)
        gateway_key(st, name, value);
    else if (st->cur)
        client_key(st, name, value);
    return !st->failed;
}

static int check_clients(struct cfg_state *st)
{
    for (size_t i = 0; i < st->c->n_clients; i++) {
        if (!st->c->clients[i].key) {
            snprintf(st->err, st->errlen, "%s: [client %s] needs key_env",
                     st->path, st->c->clients[i].name);
            return -1;
        }
    }
    return 0;
}

int serve_config_load(const char *path, struct serve_config *c, char *err,
                      size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->listen = strdup("127.0.0.1:8080");
    c->max_body_bytes = 1048576;
    c->max_connections = 4096;
    c->shutdown_timeout_ms = 10000;
    FILE *fp = fopen(path, "r");
    if (!fp) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct cfg_state st = {.c = c, .path = path, .fp = fp, .err = err,
                           .errlen = errlen};
    /* Syntax errors are the core's to report (lr_open runs first). */
    ini_parse_stream(reader, &st, handler, &st);
    fclose(fp);
    if (!st.failed && !c->listen)
        fail(&st, "out of memory");
    if (st.failed || check_clients(&st)) {
        serve_config_free(c);
        return -1;
    }
    return 0;
}

void serve_config_free(struct serve_config *c)
{
    for (size_t i = 0; i < c->n_clients; i++) {
        struct serve_client *cl = &c->clients[i];
        if (cl->key)
            memset(cl->key, 0, cl->key_len);
        free(cl->key);
        free(cl->name);
        free(cl->user);
    }
    free(c->clients);
    free(c->listen);
    memset(c, 0, sizeof *c);
}
