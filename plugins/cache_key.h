/*
 * cache_key.h - the cache policy's request key: a canonical text of
 * everything in a chat that can change the answer, and its 128-bit hash.
 * Header-only, included by policy_cache.c alone (every function static).
 *
 * The canonical text is a compact JSON array, so it is unambiguous (no
 * two requests that differ in a field give the same text) and readable
 * when someone inspects the store:
 *
 *   ["llmroute-cache-1", system, [[role, content, tool_calls, id, name],
 *    ...], tools, tool_choice, max_tokens, temperature, [stop, ...]
 *    (, {top_p, seed, presence_penalty, frequency_penalty,
 *        response_format})]
 *
 * The last object is there only when one of its members is set, and
 * holds only those that are.
 *
 * Absent values are null, never "": a NULL content and an empty one may
 * reach a model differently, so they stay different keys.  The one
 * normalisation is on the JSON-valued fields (tool_calls_json, tools_json,
 * tool_choice_json): text that parses is embedded as {"j": value}, which
 * cJSON prints compactly, so insignificant whitespace and number spelling
 * (1.0 vs 1) do not split the cache; every provider parses and re-prints
 * these fields with cJSON too, so the wire request is identical.  Text
 * that does not parse is kept verbatim as {"s": text}.  No text is
 * trimmed or case-folded: a trailing space or newline changes the tokens
 * a model sees, and a cache that returns an answer to a different prompt
 * is worse than one that misses.
 *
 * Left out on purpose: user, conversation, the request id and stream (a
 * streaming caller gets a cached text as one delta).
 *
 * The hash is FNV-1a 64 run twice with different offset bases, written
 * as 32 hex digits.  It only names the store entry; the entry keeps the
 * whole canonical text, which a hit must match byte for byte, so a
 * collision (accidental or crafted: FNV is not collision resistant) is
 * a miss, never somebody else's answer.
 */
#ifndef LR_PLUGINS_CACHE_KEY_H
#define LR_PLUGINS_CACHE_KEY_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "c_locale.h"
#include "llmroute_plugin.h"

#define CACHE_KEY_VERSION "llmroute-cache-1"
#define CACHE_HASH_HEX 32   /* hex digits of the hash, without the NUL */

/* A string or null; 0 on OOM. */
static int key_add_str(cJSON *arr, const char *s)
{
    cJSON *v = s ? cJSON_CreateString(s) : cJSON_CreateNull();
    return v && cJSON_AddItemToArray(arr, v);
}

/* A JSON-valued field: {"j": parsed}, {"s": verbatim} or null. */
static int key_add_json(cJSON *arr, const char *text)
{
    if (!text)
        return key_add_str(arr, NULL);
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(arr, o))
        return (cJSON_Delete(o), 0);
    cJSON *v = cJSON_ParseWithOpts(text, NULL, 1);
    if (v)
        return cJSON_AddItemToObject(o, "j", v) ? 1 : (cJSON_Delete(v), 0);
    return cJSON_AddStringToObject(o, "s", text) != NULL;
}

/* A number printed exactly (cJSON's doubles would round large ints). */
static int key_add_raw(cJSON *arr, const char *text)
{
    cJSON *v = cJSON_CreateRaw(text);
    return v && cJSON_AddItemToArray(arr, v);
}

static int key_add_message(cJSON *msgs, const struct lr_message *m)
{
    char role[24];
    cJSON *a = cJSON_CreateArray();
    if (!a || !cJSON_AddItemToArray(msgs, a))
        return (cJSON_Delete(a), 0);
    snprintf(role, sizeof role, "%d", (int)m->role);
    return key_add_raw(a, role) && key_add_str(a, m->content) &&
           key_add_json(a, m->tool_calls_json) &&
           key_add_str(a, m->tool_call_id) && key_add_str(a, m->name);
}

/* max_tokens (0: unset), temperature (when set) and the stop list. */
static int key_add_limits(cJSON *arr, const struct lr_chat *c)
{
    char num[40];
    int ok = 1;
    if (c->max_tokens > 0) {
        snprintf(num, sizeof num, "%" PRId64, c->max_tokens);
        ok = key_add_raw(arr, num);
    }
    else
        ok = key_add_str(arr, NULL);
    if (ok && c->has_temperature) {
        /* '.' whatever the application's LC_NUMERIC: processes in other
           locales share the store, and "0,7" would not even be JSON. */
        locale_t old = c_locale_enter();
        snprintf(num, sizeof num, "%.17g", c->temperature);
        c_locale_leave(old);
        ok = key_add_raw(arr, num);
    }
    else if (ok)
        ok = key_add_str(arr, NULL);
    cJSON *stop = ok ? cJSON_CreateArray() : NULL;
    if (!stop || !cJSON_AddItemToArray(arr, stop))
        return (cJSON_Delete(stop), 0);
    for (size_t i = 0; ok && c->stop && i < c->n_stop; i++)
        if (c->stop[i]) /* providers skip NULL entries */
            ok = key_add_str(stop, c->stop[i]);
    return ok;
}

/* A double member of o, in the C locale like the temperature. */
static int key_add_double(cJSON *o, const char *name, double d)
{
    char num[40];
    locale_t old = c_locale_enter();
    snprintf(num, sizeof num, "%.17g", d);
    c_locale_leave(old);
    return cJSON_AddRawToObject(o, name, num) != NULL;
}

/* The sampling hints and response format (plugin ABI 1.3), as one object
   of the members that are set, appended only when one is: a request
   without them keeps the key it had before they existed, so an upgrade
   does not empty the cache, and the array's length keeps the two kinds
   of key apart. */
static int key_add_sampling(cJSON *arr, const struct lr_chat *c)
{
    if (!c->has_top_p && !c->has_seed && !c->has_presence_penalty &&
        !c->has_frequency_penalty && !c->response_format_json)
        return 1;
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(arr, o))
        return (cJSON_Delete(o), 0);
    int ok = 1;
    char seed[24];
    if (c->has_top_p)
        ok = key_add_double(o, "top_p", c->top_p);
    if (ok && c->has_seed) {
        snprintf(seed, sizeof seed, "%" PRId64, c->seed);
        ok = cJSON_AddRawToObject(o, "seed", seed) != NULL;
    }
    if (ok && c->has_presence_penalty)
        ok = key_add_double(o, "presence_penalty", c->presence_penalty);
    if (ok && c->has_frequency_penalty)
        ok = key_add_double(o, "frequency_penalty", c->frequency_penalty);
    if (ok && c->response_format_json) {
        cJSON *f = cJSON_AddArrayToObject(o, "response_format");
        ok = f && key_add_json(f, c->response_format_json);
    }
    return ok;
}

/* The canonical text of c, malloc'd (free()), or NULL on OOM.  The
   caller has checked that a set temperature is finite. */
static char *cache_key_canonical(const struct lr_chat *c)
{
    cJSON *arr = cJSON_CreateArray();
    cJSON *msgs = cJSON_CreateArray();
    int ok = arr && msgs && key_add_str(arr, CACHE_KEY_VERSION) &&
             key_add_str(arr, c->system) && cJSON_AddItemToArray(arr, msgs);
    if (!ok)
        cJSON_Delete(msgs);
    for (size_t i = 0; ok && i < c->n_messages; i++)
        ok = key_add_message(msgs, &c->messages[i]);
    ok = ok && key_add_json(arr, c->tools_json) &&
         key_add_json(arr, c->tool_choice_json) && key_add_limits(arr, c) &&
         key_add_sampling(arr, c);
    char *text = ok ? cJSON_PrintUnformatted(arr) : NULL;
    cJSON_Delete(arr);
    return text;
}

static uint64_t fnv1a64(const char *s, size_t len, uint64_t h)
{
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3u;
    }
    return h;
}

/* hex gets CACHE_HASH_HEX digits and a NUL. */
static void cache_key_hash(const char *s, size_t len,
                           char hex[CACHE_HASH_HEX + 1])
{
    /* The standard offset basis, then a second, unrelated one. */
    uint64_t a = fnv1a64(s, len, 0xcbf29ce484222325u);
    uint64_t b = fnv1a64(s, len, 0x6c62272e07bb0142u);
    snprintf(hex, CACHE_HASH_HEX + 1, "%016" PRIx64 "%016" PRIx64, a, b);
}

#endif
