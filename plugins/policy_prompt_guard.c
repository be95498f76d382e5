/*
 * policy_prompt_guard.c - the example policy: refuse a request before any
 * target sees it when it is too long or when a user message contains a
 * denied word.  It is small on purpose; copy it to start a policy.
 *
 *   [policy guard]
 *   plugin     = prompt_guard
 *   max_chars  = 20000             ; 0 (the default): no size limit
 *   deny_words = password, api key ; empty (the default): no word list
 *
 *   [router]
 *   pipeline = guard, ...          ; put it first: it costs nothing
 *
 * max_chars counts the characters (UTF-8 code points, not bytes) of the
 * whole conversation: system prompt plus every message, whatever its
 * role.  A request over the limit fails with bad_request and a message
 * giving its size and the limit.
 *
 * deny_words is a comma-separated list of words or phrases, matched as
 * substrings of user messages only (system and assistant text is the
 * application's own), ignoring ASCII case.  A match fails the request with
 * content_filter and a message naming the configured word.  Neither
 * message nor log line quotes the prompt: prompts stay out of logs.
 *
 * Each rejection adds 1 to the counter prompt_guard_rejections, labelled
 * with the key that caused it ("max_chars" or "deny_words"), so
 * lr_metrics_json() shows how often the guard fires.
 *
 * What the example shows: a key table with defaults the core validates, a
 * create() that checks values and points the core at a bad key ("KEY: "
 * prefix), an on_request hook that rejects with a status and a message,
 * and the host table for config, logging and metrics.  The plugin uses
 * only llmroute_plugin.h and libc, keeps no per-request state, and needs
 * no locks: hooks run one at a time on the engine thread.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmroute_plugin.h"

/* Keys of [policy NAME] besides "plugin".  The core rejects unknown keys
   and values of the wrong type before create() runs, and fills in the
   defaults, so create() can read every key without checking for
   absence. */
static const struct lr_cfg_key keys[] = {
    {"max_chars", LR_CFG_INT, "0",
     "largest request in characters, all messages (0: no limit)"},
    {"deny_words", LR_CFG_LIST, "",
     "words or phrases refused in user messages, any ASCII case"},
};

/* One instance per [policy] section that names this plugin. */
struct guard {
    const struct lr_host *host;
    int64_t max_chars;          /* 0: off */
    const char *const *words;   /* borrowed from the section, which
                                   outlives the instance */
    size_t n_words;
};

static int create(const struct lr_section *sec, const struct lr_host *host,
                  void **inst, char *err, size_t errlen)
{
    int64_t max_chars = 0;
    const char *const *words = NULL;
    size_t n_words = 0;

    host->cfg_int(sec, "max_chars", &max_chars);
    host->cfg_list(sec, "deny_words", &words, &n_words);
    if (max_chars < 0) {
        /* "max_chars: " makes the core report that key's FILE:LINE. */
        snprintf(err, errlen, "max_chars: must be 0 (no limit) or a "
                 "positive number of characters, got %" PRId64, max_chars);
        return LR_E_CONFIG;
    }
    struct guard *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(err, errlen, "out of memory");
        return LR_E_NOMEM;
    }
    g->host = host;
    g->max_chars = max_chars;
    g->words = words;
    g->n_words = n_words;
    *inst = g;
    return LR_OK;
}

static void destroy(void *inst)
{
    free(inst);
}

/* UTF-8 code points in s: every byte except continuation bytes. */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; s && *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static size_t request_chars(const struct lr_chat *chat)
{
    size_t n = utf8_chars(chat->system);
    for (size_t i = 0; i < chat->n_messages; i++)
        n += utf8_chars(chat->messages[i].content);
    return n;
}

/* ASCII-only folding: unlike tolower() it does not depend on the
   process locale, so the match is the same in every application. */
static int fold(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* Nonzero when word occurs in text, ignoring ASCII case. */
static int contains_word(const char *text, const char *word)
{
    size_t wl = strlen(word);
    for (const char *p = text; *p; p++) {
        size_t k = 0;
        while (k < wl && p[k] && fold((unsigned char)p[k]) ==
                                     fold((unsigned char)word[k]))
            k++;
        if (k == wl)
            return 1;
    }
    return 0;
}

/* The first configured word found in a user message, or NULL. */
static const char *denied_word(const struct guard *g,
                               const struct lr_chat *chat)
{
    for (size_t i = 0; i < chat->n_messages; i++) {
        const struct lr_message *m = &chat->messages[i];
        if (m->role != LR_ROLE_USER || !m->content)
            continue;
        for (size_t w = 0; w < g->n_words; w++)
            if (contains_word(m->content, g->words[w]))
                return g->words[w];
    }
    return NULL;
}

/* Runs once per request, before routing.  Returning a status other than
   LR_OK ends the request with it; the core prefixes msg with the
   instance name, e.g. "guard: ...".  No per-request state is needed, so
   *req_state stays NULL and there is no on_complete hook. */
static int on_request(void *inst, const struct lr_policy_req *req,
                      void **req_state, char *msg, size_t msglen,
                      int64_t *retry_after_ms)
{
    struct guard *g = inst;
    const struct lr_host *h = g->host;
    (void)req_state;
    (void)retry_after_ms; /* retrying the same text would not help */

    if (g->max_chars > 0) {
        size_t n = request_chars(req->chat);
        if (n > (uint64_t)g->max_chars) {
            snprintf(msg, msglen, "request is %zu characters, over the "
                     "limit of %" PRId64 " (max_chars)", n, g->max_chars);
            h->counter_add(h, "prompt_guard_rejections", "max_chars", 1);
            h->log(h, LR_LOG_INFO, "request %" PRIu64 " refused: %zu "
                   "characters > max_chars %" PRId64, req->id, n,
                   g->max_chars);
            return LR_E_BAD_REQUEST;
        }
    }
    const char *word = denied_word(g, req->chat);
    if (word) {
        snprintf(msg, msglen, "a user message contains the denied word "
                 "'%s' (deny_words)", word);
        h->counter_add(h, "prompt_guard_rejections", "deny_words", 1);
        h->log(h, LR_LOG_INFO, "request %" PRIu64 " refused: denied word "
               "'%s'", req->id, word);
        return LR_E_CONTENT_FILTER;
    }
    return LR_OK;
}

/* Hooks left NULL are simply not called. */
static const struct lr_policy_ops ops = {
    .keys = keys,
    .n_keys = sizeof keys / sizeof keys[0],
    .on_request = on_request,
};

static const struct lr_plugin_desc desc = {
    LR_PLUGIN_HEADER,
    .name = "prompt_guard",
    .kind = LR_PLUGIN_POLICY,
    .version = "1.0",
    .create = create,
    .destroy = destroy,
    .ops = &ops,
    .ops_size = sizeof ops,
};

/* The plugin's only exported symbol: it must do nothing but return the
   constant descriptor. */
LR_PLUGIN_EXPORT const struct lr_plugin_desc *lr_plugin_entry(void)
{
    return &desc;
}
