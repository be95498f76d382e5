/*
 * config.c - reads an INI file into sections with line numbers.
 *
 * Debian's inih (55) is built without INI_HANDLER_LINENO and with a
 * 200-byte line limit, and it silently splits longer lines.  So the file
 * is fed through ini_parse_stream() with a reader of ours that counts
 * lines (the handler runs right after the reader returns the line it
 * parses, so the count is that line's number), refuses over-long lines,
 * and notices section headers itself (inih does not report empty
 * sections to the handler).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parse_state {
    struct lr_config *cfg;
    FILE *fp;
    int line;
    const char *line_text;      /* current raw line, for continuations */
    char *raw;                  /* getline buffer */
    size_t raw_cap;
    struct lr_section *cur;
    int skipping;               /* in a front end's [client]/[gateway] */
    char *err;
    size_t errlen;
    int failed;
};

static void fail(struct parse_state *ps, int line, const char *fmt, ...)
    LR_PRINTF(3, 4);

static void fail(struct parse_state *ps, int line, const char *fmt, ...)
{
    if (ps->failed)
        return;
    ps->failed = 1;
    int n = snprintf(ps->err, ps->errlen, "%s:%d: ", ps->cfg->path, line);
    if (n < 0 || (size_t)n >= ps->errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int add_section(struct parse_state *ps, char *inner)
{
    char *t = trim(inner);
    char *sp = t + strcspn(t, " \t");
    char *name = *sp ? trim(sp + 1) : sp;
    *sp = '\0';
    enum lr_section_kind kind;
    /* Front ends' sections (llmroute serve): read by them, not us. */
    ps->skipping = !strcmp(t, "client") || !strcmp(t, "gateway");
    if (ps->skipping)
        return 0;
    if (strcmp(t, "router") == 0)
        kind = LR_SEC_ROUTER;
    else if (strcmp(t, "target") == 0)
        kind = LR_SEC_TARGET;
    else if (strcmp(t, "policy") == 0)
        kind = LR_SEC_POLICY;
    else {
        fail(ps, ps->line, "unknown section [%s%s%s] (expected [router], "
             "[target NAME] or [policy NAME])", t, *name ? " " : "", name);
        return -1;
    }
    if (kind == LR_SEC_ROUTER && *name) {
        fail(ps, ps->line, "[router] takes no name");
        return -1;
    }
    if (kind != LR_SEC_ROUTER && !*name) {
        fail(ps, ps->line, "[%s] needs a name: [%s NAME]", t, t);
        return -1;
    }
    if (kind != LR_SEC_ROUTER && strpbrk(name, " \t,")) {
        fail(ps, ps->line, "section name '%s' may not contain spaces or "
             "commas", name);
        return -1;
    }
    struct lr_section *dup = lr_config_find(ps->cfg, kind,
                                            kind == LR_SEC_ROUTER ? "router"
                                                                  : name);
    if (dup) {
        fail(ps, ps->line, "duplicate section (first defined at line %d)",
             dup->line);
        return -1;
    }
    struct lr_section *s = calloc(1, sizeof *s);
    struct lr_section **v = realloc(ps->cfg->sections,
        (ps->cfg->n_sections + 1) * sizeof *v);
    if (!s || !v) {
        free(s);
        if (v)
            ps->cfg->sections = v;
        fail(ps, ps->line, "out of memory");
        return -1;
    }
    ps->cfg->sections = v;
    s->kind = kind;
    s->name = strdup(kind == LR_SEC_ROUTER ? "router" : name);
    s->line = ps->line;
    s->file = ps->cfg->path;
    v[ps->cfg->n_sections++] = s;
    ps->cur = s;
    return s->name ? 0 : -1;
}

/* inih reader: hands out one line at a time, counting and checking. */
static char *reader(char *str, int num, void *stream)
{
    struct parse_state *ps = stream;
    if (ps->failed)
        return NULL;
    ssize_t n = getline(&ps->raw, &ps->raw_cap, ps->fp);
    if (n < 0)
        return NULL;
    ps->line++;
    size_t len = (size_t)n;
    if (ps->line == 1 && len >= 3 && memcmp(ps->raw, "\xEF\xBB\xBF", 3) == 0) {
        memmove(ps->raw, ps->raw + 3, len - 2);
        len -= 3;
    }
    while (len && (ps->raw[len - 1] == '\n' || ps->raw[len - 1] == '\r'))
        len--;
    if (len + 3 > (size_t)num) {
        fail(ps, ps->line, "line too long (%zu characters; at most %d)",
             len, num - 3);
        return NULL;
    }
    if (memchr(ps->raw, '\0', len)) {
        fail(ps, ps->line, "NUL byte in line");
        return NULL;
    }
    memcpy(str, ps->raw, len);
    str[len] = '\n';
    str[len + 1] = '\0';
    ps->line_text = str;
    char *p = ps->raw;
    while (p < ps->raw + len && isspace((unsigned char)*p))
        p++;
    if (*p == '[') {
        char *close = memchr(p, ']', len - (size_t)(p - ps->raw));
        if (close) {
            char inner[256];
            size_t il = (size_t)(close - p - 1);
            if (il >= sizeof inner)
                il = sizeof inner - 1;
            memcpy(inner, p + 1, il);
            inner[il] = '\0';
            if (add_section(ps, inner) != 0)
                return NULL;
        }
    }
    return str;
}

static struct lr_kv *add_kv(struct lr_section *s)
{
    if (s->n_kv == s->cap_kv) {
        size_t cap = s->cap_kv ? s->cap_kv * 2 : 8;
        struct lr_kv *kv = realloc(s->kv, cap * sizeof *kv);
        if (!kv)
            return NULL;
        s->kv = kv;
        s->cap_kv = cap;
    }
    struct lr_kv *kv = &s->kv[s->n_kv++];
    memset(kv, 0, sizeof *kv);
    return kv;
}

static int handler(void *user, const char *section, const char *name,
                   const char *value)
{
    struct parse_state *ps = user;
    (void)section;
    if (ps->failed)
        return 0;
    if (ps->skipping)
        return 1;
    if (!ps->cur) {
        fail(ps, ps->line, "key '%s' outside any section", name);
        return 0;
    }
    struct lr_kv *prev = lr_section_kv(ps->cur, name);
    if (prev) {
        if (isspace((unsigned char)ps->line_text[0]))
            fail(ps, ps->line, "indented line continues key '%s'; "
                 "continuation lines are not supported", name);
        else
            fail(ps, ps->line, "duplicate key '%s' (first set at line %d)",
                 name, prev->line);
        return 0;
    }
    struct lr_kv *kv = add_kv(ps->cur);
    if (!kv || !(kv->key = strdup(name)) || !(kv->value = strdup(value))) {
        fail(ps, ps->line, "out of memory");
        return 0;
    }
    kv->line = ps->line;
    return 1;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

struct lr_config *lr_config_load(const char *path, char *err,
                                 size_t errlen)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct lr_config *cfg = lr_config_read(fp, path, err, errlen);
    fclose(fp);
    return cfg;
}

struct lr_config *lr_config_read(FILE *fp, const char *path, char *err,
                                 size_t errlen)
{
    struct lr_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg || !(cfg->path = strdup(path)) || !(cfg->dir = dir_of(path))) {
        lr_config_free(cfg);
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    struct parse_state ps = {.cfg = cfg, .fp = fp, .err = err,
                             .errlen = errlen};
    int rc = ini_parse_stream(reader, &ps, handler, &ps);
    free(ps.raw);
    if (rc != 0 && !ps.failed)
        fail(&ps, rc > 0 ? rc : ps.line, "syntax error (expected "
             "[section] or key = value)");
    if (ps.failed) {
        lr_config_free(cfg);
        return NULL;
    }
    return cfg;
}

void lr_free_list(char **items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(items[i]);
    free(items);
}

void lr_config_free(struct lr_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_sections; i++) {
        struct lr_section *s = c->sections[i];
        for (size_t k = 0; k < s->n_kv; k++) {
            free(s->kv[k].key);
            free(s->kv[k].value);
            lr_free_list(s->kv[k].items, s->kv[k].n_items);
        }
        free(s->kv);
        free(s->name);
        free(s);
    }
    free(c->sections);
    free(c->path);
    free(c->dir);
    free(c);
}

struct lr_section *lr_config_find(const struct lr_config *c,
                                  enum lr_section_kind kind,
                                  const char *name)
{
    for (size_t i = 0; i < c->n_sections; i++) {
        struct lr_section *s = c->sections[i];
        if (s->kind != kind)
            continue;
        if (kind == LR_SEC_ROUTER || strcmp(s->name, name) == 0)
            return s;
    }
    return NULL;
}

struct lr_kv *lr_section_kv(const struct lr_section *s, const char *key)
{
    /* Providers look keys up on every request in sections that hold
       every declared key: the first byte rules most out cheaply. */
    for (size_t i = 0; i < s->n_kv; i++)
        if (s->kv[i].key[0] == key[0] && strcmp(s->kv[i].key, key) == 0)
            return &s->kv[i];
    return NULL;
}

void lr_section_where(const struct lr_section *s, const char *key,
                      char *out, size_t outlen)
{
    const struct lr_kv *kv = key ? lr_section_kv(s, key) : NULL;
    int line = kv && kv->line ? kv->line : s->line;
    snprintf(out, outlen, "%s:%d: ", s->file, line);
}

int lr_section_fail(const struct lr_section *s, const char *key, char *err,
                    size_t errlen, const char *fmt, ...)
{
    char where[600], msg[1024];
    lr_section_where(s, key, where, sizeof where);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "%s%s", where, msg);
    return LR_E_CONFIG;
}
