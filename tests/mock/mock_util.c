/*
 * mock_util.c - small helpers shared by the mock upstream's files: string
 * copies, word counts (the mock's stand-in for token counts), reply piece
 * lists, and the format table lookup.
 */
#include "mock_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every format the mock speaks; the first answers unknown paths. */
static const struct mock_format *const formats[] = {
    &mock_format_openai,
    &mock_format_anthropic,
    &mock_format_gemini,
};

#define NFORMATS (sizeof formats / sizeof formats[0])

const struct mock_format *mock_format_find(const char *name)
{
    for (size_t i = 0; i < NFORMATS; i++)
        if (strcmp(formats[i]->name, name) == 0)
            return formats[i];
    return NULL;
}

const struct mock_format *mock_format_for_path(const char *url)
{
    for (size_t i = 0; i < NFORMATS; i++)
        if (formats[i]->owns_path(url))
            return formats[i];
    return NULL;
}

const struct mock_format *mock_format_default(void)
{
    return formats[0];
}

char *mock_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

char *mock_concat(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *p = malloc(na + nb + 1);
    if (!p)
        return NULL;
    memcpy(p, a, na);
    memcpy(p + na, b, nb + 1);
    return p;
}

long mock_count_words(const char *s)
{
    long n = 0;
    int in_word = 0;
    for (; *s; s++) {
        int space = isspace((unsigned char)*s);
        if (!space && !in_word)
            n++;
        in_word = !space;
    }
    return n;
}

static int reply_push(struct mock_reply *r, char *data, size_t len)
{
    struct mock_piece *p =
        realloc(r->pieces, (r->npieces + 1) * sizeof *r->pieces);
    if (!p)
        return -1;
    r->pieces = p;
    p[r->npieces].data = data;
    p[r->npieces].len = len;
    r->npieces++;
    return 0;
}

int mock_reply_add(struct mock_reply *r, const char *data, size_t len)
{
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, data, len);
    copy[len] = '\0';
    if (reply_push(r, copy, len) == 0)
        return 0;
    free(copy);
    return -1;
}

int mock_reply_take(struct mock_reply *r, char *s)
{
    if (!s)
        return -1;
    if (reply_push(r, s, strlen(s)) == 0)
        return 0;
    free(s);
    return -1;
}

void mock_reply_free(struct mock_reply *r)
{
    for (size_t i = 0; i < r->npieces; i++)
        free(r->pieces[i].data);
    free(r->pieces);
    r->pieces = NULL;
    r->npieces = 0;
}

void mock_request_free(struct mock_request *req)
{
    free(req->last_user);
    req->last_user = NULL;
}

char *mock_print_free(cJSON *o)
{
    if (!o)
        return NULL;
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* Append n bytes of s to the growing string at *out (len, cap). */
static int put(char **out, size_t *len, size_t *cap, const char *s,
               size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t want = (*len + n + 1) * 2;
        char *p = realloc(*out, want);
        if (!p)
            return -1;
        *out = p;
        *cap = want;
    }
    memcpy(*out + *len, s, n);
    *len += n;
    (*out)[*len] = '\0';
    return 0;
}

char *mock_fill_window(const char *s, long left_ms)
{
    static const char ms_tag[] = "{{window_left_ms}}";
    static const char s_tag[] = "{{window_left_s}}";
    char ms[24], secs[24];
    long whole = (left_ms + 999) / 1000;
    snprintf(ms, sizeof ms, "%ld", left_ms);
    snprintf(secs, sizeof secs, "%ld", whole < 1 ? 1 : whole);
    size_t len = 0, cap = strlen(s) + 1;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    out[0] = '\0';
    while (*s) {
        const char *tag = strncmp(s, ms_tag, sizeof ms_tag - 1) == 0 ? ms_tag
                          : strncmp(s, s_tag, sizeof s_tag - 1) == 0
                              ? s_tag
                              : NULL;
        const char *val = tag == ms_tag ? ms : secs;
        size_t n = tag ? strlen(val) : 1;
        if (put(&out, &len, &cap, tag ? val : s, n)) {
            free(out);
            return NULL;
        }
        s += tag ? strlen(tag) : 1;
    }
    return out;
}
