/*
 * provider_drive.c - see provider_drive.h.
 */
#include "provider_drive.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "secrets.h"
#include "sse.h"
#include "support/fake_host.h"
#include "support/provider_fixture.h"

#define MAX_HEADERS 32
/* 2026-03-14T09:26:18Z, the date the fixtures' headers are about. */
#define WALL_MS 1773480378000LL

struct input {
    int stream;
    long status;
    struct lr_header h[MAX_HEADERS];
    size_t nh;
    char *text;          /* the whole input, NUL-terminated, edited */
    const char *body;
    size_t body_len;
};

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

/* Header line "Name: value" in place: lower-case name, trimmed value, as
   the core hands them over. */
static void add_header(struct input *in, char *line)
{
    char *colon = strchr(line, ':');
    if (!colon || in->nh == MAX_HEADERS)
        return;
    *colon = '\0';
    for (char *p = line; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    in->h[in->nh].name = trim(line);
    in->h[in->nh].value = trim(colon + 1);
    in->nh++;
}

/* Splits the input; its bytes are copied so they can be edited. */
static int split(struct input *in, const uint8_t *data, size_t size)
{
    memset(in, 0, sizeof *in);
    if (!(in->text = malloc(size + 1)))
        return -1;
    memcpy(in->text, data, size);
    in->text[size] = '\0';
    char *p = in->text, *end = in->text + size;
    char *nl = memchr(p, '\n', size);
    if (!nl)
        return -1;
    *nl = '\0';
    in->stream = p[0] == 'S';
    in->status = p[0] ? strtol(p + 1, NULL, 10) : 0;
    if (in->status < 0 || in->status > 999)
        in->status = 200;
    for (p = nl + 1; p < end; p = nl + 1) {
        nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            nl = end;
        *nl = '\0';
        if (*trim(p) == '\0')
            break;
        add_header(in, p);
    }
    in->body = nl < end ? nl + 1 : end;
    in->body_len = (size_t)(end - in->body);
    return 0;
}

static void leaked(const char *msg, const struct provider_fx *t)
{
    fprintf(stderr, "fuzz: the API key leaked: %s\n%s\n", msg,
            fake_host_log(t->fh));
    abort();
}

/* A provider reading a response knows the key and must redact it. */
static void check_secret(const struct provider_fx *t,
                         const struct lr_result *r)
{
    const char *key = t->target.api_key;
    if (strstr(lr_buf_str(&r->error_message), key) ||
        fake_host_log_contains(t->fh, key))
        leaked(lr_buf_str(&r->error_message), t);
}

/* In a stream it does not (stream_event gets no target): the core
   redacts the message it takes over (core/outcome.c), as here. */
static void check_stream_secret(const struct provider_fx *t,
                                const struct lr_result *r)
{
    char msg[512];
    size_t n = strnlen(lr_buf_str(&r->error_message), sizeof msg - 1);
    memcpy(msg, lr_buf_str(&r->error_message), n);
    msg[n] = '\0';
    static int registered;         /* the fixture's key never changes */
    if (!registered)
        registered = lr_secrets_add(t->target.api_key) == 0;
    lr_secrets_redact(msg);
    if (strstr(msg, t->target.api_key) ||
        fake_host_log_contains(t->fh, t->target.api_key))
        leaked(msg, t);
}

struct drive {
    const struct lr_provider_ops *ops;
    struct provider_fx *t;
    void *st;
    struct lr_result acc;
    struct lr_buf delta;
};

/* As core/transfer.c's on_event. */
static int on_event(const struct lr_sse_event *ev, void *user)
{
    struct drive *d = user;
    lr_buf_reset(&d->delta);
    int rc = d->ops->stream_event(d->t->inst, d->st, ev, &d->acc, &d->delta);
    if (rc != LR_OK && rc != LR_STREAM_DONE)
        return rc;
    if (d->delta.len &&
        lr_buf_append(&d->acc.text, d->delta.data, d->delta.len))
        return LR_E_NOMEM;
    return d->acc.error != LR_OK ? d->acc.error : LR_OK;
}

static void run_stream(const struct lr_provider_ops *ops,
                       struct provider_fx *t, const struct input *in)
{
    struct drive d = {.ops = ops, .t = t};
    fake_result_init(&d.acc);
    if (!ops->stream_begin || ops->stream_begin(t->inst, &d.st) == LR_OK) {
        size_t cut = in->body_len ? (unsigned char)in->body[0] : 0;
        cut = cut < in->body_len ? cut : in->body_len;
        struct lr_sse sse;
        lr_sse_init(&sse, 1 << 16);
        int rc = lr_sse_feed(&sse, in->body, cut, on_event, &d);
        if (rc == LR_OK)
            rc = lr_sse_feed(&sse, in->body + cut, in->body_len - cut,
                             on_event, &d);
        if (rc == LR_OK)
            lr_sse_finish(&sse, 1, on_event, &d);
        lr_sse_free(&sse);
        if (ops->stream_end)
            ops->stream_end(t->inst, d.st);
    }
    check_stream_secret(t, &d.acc);
    fake_result_free(&d.acc);
    lr_buf_free(&d.delta);
}

int fuzz_provider_one(const struct lr_plugin_desc *desc, const char *model,
                      const char *key, const uint8_t *data, size_t size)
{
    const struct lr_provider_ops *ops = desc->ops;
    struct input in;
    struct provider_fx *t = NULL;
    if (split(&in, data, size) == 0 &&
        (t = provider_fx_new(desc, "fz", model, key))) {
        fake_host_set_time(t->fh, 1000, WALL_MS);
        if (in.stream && ops->stream_event)
            run_stream(ops, t, &in);
        else {
            struct lr_http_response r = {in.status, in.h, in.nh, in.body,
                                         in.body_len};
            struct lr_result res;
            fake_result_init(&res);
            ops->parse_response(t->inst, &t->target, &r, &res);
            check_secret(t, &res);
            fake_result_free(&res);
        }
    }
    provider_fx_free(desc, t);
    free(in.text);
    return 0;
}
