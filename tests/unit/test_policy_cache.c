/*
 * test_policy_cache.c - the cache policy, loaded as the real
 * build/plugins/cache.so and driven through on_request/on_complete with
 * the fake host, a real memory store and the fake clock: the key table,
 * config errors, miss then store then hit, every field of the key (and
 * what is left out or normalised), the temperature rules, the bypass
 * flag (no lookup, stores, refreshes), TTL expiry, FIFO eviction at
 * max_entries, a hash collision and an unreadable entry on crafted
 * entries, answers not stored (failures, finishes, size, no attempt),
 * the counters, two instances sharing one store, and the key under a
 * comma-decimal LC_NUMERIC.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/comma_locale.h"
#include "support/fake_host.h"
#include "support/policy_fixture.h"
/* The key's canonical text is checked directly too. */
#include "../../plugins/cache_key.h"

struct fx {
    struct policy_fx p;
    char text[512];          /* the text of the last hit */
    char target[64];         /* its target */
};

static int setup(void **state)
{
    return policy_fx_setup(state, sizeof(struct fx), "cache", "cache",
                           POLICY_FX_STORE);
}

static void make_ok(struct fx *f)
{
    policy_fx_create_ok(&f->p);
}

static double counter(struct fx *f, const char *name, const char *label)
{
    return fake_host_counter(f->p.fh, name, label);
}

/* --- Requests ------------------------------------------------------------ */

/* A one-turn chat the tests vary field by field. */
struct chat {
    struct lr_message msgs[2];
    const char *stop[2];
    struct lr_chat c;
};

static void chat_init(struct chat *ch, const char *prompt)
{
    memset(ch, 0, sizeof *ch);
    ch->msgs[0].role = LR_ROLE_USER;
    ch->msgs[0].content = prompt;
    ch->c.system = "Be brief.";
    ch->c.messages = ch->msgs;
    ch->c.n_messages = 1;
}

/* How the simulated upstream answers a miss. */
struct answer {
    const char *text;
    enum lr_finish finish;
    int fail;               /* 1: the request failed (no result) */
    int no_attempt;         /* 1: the final attempt names no target (the
                               answer came from another policy) */
};

static const struct answer OK_ANSWER = {"Paris.", LR_FINISH_STOP, 0, 0};

/*
 * One request through the cache: on_request, then on a miss the upstream
 * answer ans and on_complete, as the core runs them.  Returns 1 on a hit
 * (text and target in f->text, f->target), 0 on a miss.
 */
static int run_full(struct fx *f, const struct lr_chat *c, int bypass,
                    const struct answer *ans)
{
    struct lr_policy_req req = {42, c, "alice", "conv-1", bypass};
    void *rs = (void *)&req; /* must be overwritten */
    char msg[64];
    int64_t hint = -1;
    assert_int_equal(f->p.ops->on_request(f->p.inst, &req, &rs, msg, sizeof msg,
                                          &hint), LR_OK);
    const char *text = NULL;
    const char *target = fake_req_responded(f->p.fh, &req, &text);
    int hit = target != NULL;
    struct lr_result res;
    struct lr_policy_attempt fin = {0};
    fin.retry_after_ms = -1;
    fake_result_init(&res);
    if (hit) {
        assert_null(rs); /* nothing to store after a hit */
        snprintf(f->text, sizeof f->text, "%s", text);
        snprintf(f->target, sizeof f->target, "%s", target);
        f->p.h->buf_append(&res.text, text, strlen(text));
        fake_req_set_result(f->p.fh, &req, &res);
        /* As the core does: a summary with no target, no attempt ran. */
        f->p.ops->on_complete(f->p.inst, &req, rs, &fin);
    }
    else {
        fin.target = ans->no_attempt ? NULL : "gpt-mini";
        fin.error = ans->fail ? LR_E_SERVER_ERROR : LR_OK;
        f->p.h->buf_append(&res.text, ans->text, strlen(ans->text));
        f->p.h->buf_append(&res.model, "gpt-4o-mini", 11);
        res.finish = ans->finish;
        res.prompt_tokens = 12;
        res.completion_tokens = 3;
        fake_req_set_result(f->p.fh, &req, ans->fail ? NULL : &res);
        f->p.ops->on_complete(f->p.inst, &req, rs, &fin);
    }
    fake_req_forget(f->p.fh, &req);
    fake_result_free(&res);
    return hit;
}

static int run(struct fx *f, const struct lr_chat *c)
{
    return run_full(f, c, 0, &OK_ANSWER);
}

static int run_prompt(struct fx *f, const char *prompt)
{
    struct chat ch;
    chat_init(&ch, prompt);
    return run(f, &ch.c);
}

/* The store key of the entry stored last, from the debug log. */
static void last_entry_key(struct fx *f, char *key, size_t keylen)
{
    const char *log = fake_host_log(f->p.fh), *p = NULL, *q = log;
    while ((q = strstr(q, "stored entry ")) != NULL)
        p = q++;
    assert_non_null(p);
    p += strlen("stored entry ");
    assert_true(strspn(p, "0123456789abcdef") == 32);
    snprintf(key, keylen, "e/%.32s", p);
}

/* --- Tests --------------------------------------------------------------- */

static void test_descriptor(void **state)
{
    struct fx *f = *state;
    static const char *const names[] = {
        "ttl_s", "max_entries", "max_entry_bytes", "max_temperature",
        "cache_unset_temperature", "cache_finish"};
    static const char *const defs[] = {
        "3600", "1000", "262144", "0", "true", "stop, tool_calls, length"};
    assert_string_equal(f->p.desc->name, "cache");
    assert_int_equal(f->p.desc->kind, LR_PLUGIN_POLICY);
    assert_int_equal(f->p.desc->abi_major, LR_PLUGIN_ABI_MAJOR);
    assert_int_equal(f->p.desc->abi_minor, LR_PLUGIN_ABI_MINOR);
    assert_int_equal(f->p.desc->ops_size, sizeof(struct lr_policy_ops));
    assert_non_null(f->p.ops->on_request);
    assert_non_null(f->p.ops->on_complete);
    assert_null(f->p.ops->before_attempt);
    assert_null(f->p.ops->after_attempt);
    assert_int_equal(f->p.ops->n_keys, 6);
    for (size_t i = 0; i < 6; i++) {
        assert_string_equal(f->p.ops->keys[i].key, names[i]);
        assert_string_equal(f->p.ops->keys[i].def, defs[i]);
        assert_non_null(f->p.ops->keys[i].help);
    }
}

static void test_config_errors(void **state)
{
    struct fx *f = *state;
    static const struct policy_fx_bad bad[] = {
        {"ttl_s", "0", "ttl_s: must be 1 to 31536000, got 0"},
        {"ttl_s", "-5", "ttl_s: "},
        {"ttl_s", "31536001", "ttl_s: "},
        {"max_entries", "0", "max_entries: must be 1 to 10000000"},
        {"max_entries", "10000001", "max_entries: "},
        {"max_entry_bytes", "1023", "max_entry_bytes: must be 1024 to"},
        {"max_entry_bytes", "67108865", "max_entry_bytes: "},
        {"max_temperature", "-0.1",
         "max_temperature: must be a finite number >= 0"},
        {"max_temperature", "inf", "max_temperature: must be a finite"},
        {"max_temperature", "x", "max_temperature: must be a finite"},
        {"cache_unset_temperature", "maybe", "cache_unset_temperature: "},
        {"max_entries", "ten", "max_entries: must be 1 to"},
        {"max_temperature", "nan", "max_temperature: "},
        {"cache_finish", "", "cache_finish: name at least one"},
        {"cache_finish", "stop, error", "cache_finish: 'error' is not"},
        {"cache_finish", "stop, none", "cache_finish: 'none' is not"},
        {"cache_finish", "Stop", "cache_finish: 'Stop' is not"},
    };
    policy_fx_check_bad(&f->p, bad, sizeof bad / sizeof bad[0]);
    fake_section_set(f->p.sec, "ttl_s", "31536000");
    fake_section_set(f->p.sec, "max_entries", "1");
    fake_section_set(f->p.sec, "max_entry_bytes", "1024");
    fake_section_set(f->p.sec, "max_temperature", "2");
    fake_section_set(f->p.sec, "cache_finish", "content_filter, other");
    make_ok(f);
}

static void test_miss_store_hit(void **state)
{
    struct fx *f = *state;
    make_ok(f);
    assert_int_equal(run_prompt(f, "Capital of France?"), 0);
    assert_int_equal(counter(f, "cache_misses", NULL), 1);
    assert_int_equal(counter(f, "cache_stores", NULL), 1);
    assert_int_equal(run_prompt(f, "Capital of France?"), 1);
    assert_string_equal(f->text, "Paris.");
    assert_string_equal(f->target, "gpt-mini");
    assert_int_equal(run_prompt(f, "Capital of France?"), 1);
    assert_int_equal(counter(f, "cache_hits", NULL), 2);
    assert_int_equal(counter(f, "cache_misses", NULL), 1);
    /* Hits are not stored again. */
    assert_int_equal(counter(f, "cache_stores", NULL), 1);
    assert_int_equal(counter(f, "cache_bypassed", "request"), 0);
    /* Neither prompt nor answer reaches the log. */
    assert_false(fake_host_log_contains(f->p.fh, "France"));
    assert_false(fake_host_log_contains(f->p.fh, "Paris"));
}

/* Each variant of the base chat must miss, and then hit itself. */
static void test_key_fields(void **state)
{
    struct fx *f = *state;
    make_ok(f);
    struct chat ch;
    chat_init(&ch, "Hi");
    assert_int_equal(run(f, &ch.c), 0);
    assert_int_equal(run(f, &ch.c), 1);
    for (int v = 0; v < 18; v++) {
        chat_init(&ch, "Hi");
        switch (v) {
        case 0: ch.c.system = "Be verbose."; break;
        case 1: ch.c.system = NULL; break;
        case 2: ch.msgs[0].content = "Hi "; break; /* no trimming */
        case 3: ch.msgs[0].content = "hi"; break;
        case 4: ch.msgs[0].role = LR_ROLE_ASSISTANT; break;
        case 5: ch.c.has_temperature = 1; break; /* 0, set */
        case 6: ch.c.max_tokens = 100; break;
        case 7: ch.c.stop = ch.stop; ch.stop[0] = "\n"; ch.c.n_stop = 1;
            break;
        case 8: ch.c.tools_json = "[{\"type\":\"function\"}]"; break;
        case 9: ch.c.tool_choice_json = "\"auto\""; break;
        case 10: ch.msgs[0].name = "fn"; break;
        case 11: ch.msgs[0].tool_call_id = "call_1"; break;
        case 12: ch.msgs[1].role = LR_ROLE_USER; ch.msgs[1].content = "";
            ch.c.n_messages = 2; break;
        case 13: ch.c.has_top_p = 1; ch.c.top_p = 0.5; break;
        case 14: ch.c.has_seed = 1; break; /* 0, set */
        case 15: ch.c.has_presence_penalty = 1; break;
        case 16: ch.c.has_frequency_penalty = 1; break;
        case 17: ch.c.response_format_json = "{\"type\":\"json_object\"}";
            break;
        }
        if (run(f, &ch.c) != 0)
            fail_msg("variant %d hit the base entry", v);
        if (run(f, &ch.c) != 1)
            fail_msg("variant %d was not stored", v);
    }
    /* NULL content and "" stay apart. */
    chat_init(&ch, "");
    assert_int_equal(run(f, &ch.c), 0);
    assert_int_equal(run(f, &ch.c), 1);
    chat_init(&ch, NULL);
    assert_int_equal(run(f, &ch.c), 0);
    assert_int_equal(counter(f, "cache_hits", NULL), 20);
    assert_int_equal(counter(f, "cache_misses", NULL), 21);
}

/* A request without the ABI 1.3 fields keeps the key text it had before
   they existed (stored entries stay valid); with them, one more element
   holding only what is set. */
static void test_key_sampling_text(void **state)
{
    (void)state;
    struct chat ch;
    chat_init(&ch, "Hi");
    char *t = cache_key_canonical(&ch.c);
    assert_string_equal(t, "[\"llmroute-cache-1\",\"Be brief.\","
                           "[[1,\"Hi\",null,null,null]],null,null,null,null,"
                           "[]]");
    char plain[CACHE_HASH_HEX + 1], with[CACHE_HASH_HEX + 1];
    cache_key_hash(t, strlen(t), plain);
    free(t);
    ch.c.has_top_p = 1;
    ch.c.top_p = 0.25;
    ch.c.has_seed = 1;
    ch.c.seed = -3;
    ch.c.response_format_json = "{\"type\": \"json_object\"}";
    t = cache_key_canonical(&ch.c);
    assert_non_null(strstr(t, ",[],{\"top_p\":0.25,\"seed\":-3,"
                           "\"response_format\":[{\"j\":{\"type\":"
                           "\"json_object\"}}]}]"));
    cache_key_hash(t, strlen(t), with);
    assert_string_not_equal(plain, with);
    free(t);
    ch.c.has_top_p = ch.c.has_seed = 0;
    ch.c.response_format_json = NULL;
    ch.c.has_frequency_penalty = 1;
    ch.c.frequency_penalty = -1.5;
    t = cache_key_canonical(&ch.c);
    assert_non_null(strstr(t, ",[],{\"frequency_penalty\":-1.5}]"));
    free(t);
}

static void test_key_ignores_and_normalises(void **state)
{
    struct fx *f = *state;
    make_ok(f);
    struct chat ch;
    chat_init(&ch, "Hi");
    ch.c.tools_json = "[{\"type\": \"function\", \"n\": 1.0}]";
    ch.msgs[0].tool_calls_json = "[ ]";
    assert_int_equal(run(f, &ch.c), 0);
    /* JSON whitespace and number spelling do not matter... */
    ch.c.tools_json = "[{\"type\":\"function\",\"n\":1}]";
    ch.msgs[0].tool_calls_json = "[]";
    assert_int_equal(run(f, &ch.c), 1);
    /* ...nor stream, user, conversation or id (run() fixes the last
       three; a different request struct and user here). */
    ch.c.stream = 1;
    ch.c.user = "bob";
    assert_int_equal(run(f, &ch.c), 1);
    /* Key order inside JSON does (kept as written: conservative). */
    ch.c.tools_json = "[{\"n\":1,\"type\":\"function\"}]";
    assert_int_equal(run(f, &ch.c), 0);
    /* Text that is not JSON is kept verbatim. */
    ch.c.tool_choice_json = "auto";
    assert_int_equal(run(f, &ch.c), 0);
    assert_int_equal(run(f, &ch.c), 1);
    ch.c.tool_choice_json = "auto ";
    assert_int_equal(run(f, &ch.c), 0);
}

static void test_temperature(void **state)
{
    struct fx *f = *state;
    make_ok(f);
    struct chat ch;
    chat_init(&ch, "Tell a story");
    ch.c.has_temperature = 1;
    ch.c.temperature = 0.7;
    assert_int_equal(run(f, &ch.c), 0);
    assert_int_equal(run(f, &ch.c), 0);
    assert_int_equal(counter(f, "cache_bypassed", "temperature"), 2);
    assert_int_equal(counter(f, "cache_stores", NULL), 0);
    assert_int_equal(counter(f, "cache_misses", NULL), 0);
    ch.c.temperature = 0;
    assert_int_equal(run(f, &ch.c), 0);
    assert_int_equal(run(f, &ch.c), 1);
    /* A temperature that is not a number is never cached. */
    ch.c.temperature = NAN;
    assert_int_equal(run(f, &ch.c), 0);
    assert_int_equal(counter(f, "cache_bypassed", "temperature"), 3);

    f->p.desc->destroy(f->p.inst);
    f->p.inst = NULL;
    fake_section_set(f->p.sec, "max_temperature", "1");
    fake_section_set(f->p.sec, "cache_unset_temperature", "false");
    make_ok(f);
    ch.c.temperature = 0.7;
    assert_int_equal(run(f, &ch.c), 0);
    assert_int_equal(run(f, &ch.c), 1);
    ch.c.temperature = 1.0000001;
    assert_int_equal(run(f, &ch.c), 0);
    ch.c.has_temperature = 0;
    assert_int_equal(run(f, &ch.c), 0);
    assert_int_equal(run(f, &ch.c), 0);
    assert_int_equal(counter(f, "cache_bypassed", "temperature"), 6);
}

static void test_bypass(void **state)
{
    struct fx *f = *state;
    make_ok(f);
    struct chat ch;
    chat_init(&ch, "News?");
    /* No lookup, but the answer is stored. */
    assert_int_equal(run_full(f, &ch.c, 1, &OK_ANSWER), 0);
    assert_int_equal(counter(f, "cache_bypassed", "request"), 1);
    assert_int_equal(counter(f, "cache_misses", NULL), 0);
    assert_int_equal(counter(f, "cache_stores", NULL), 1);
    assert_int_equal(run(f, &ch.c), 1);
    assert_string_equal(f->text, "Paris.");
    /* A bypass with an entry present still asks upstream, and its fresh
       answer replaces the entry. */
    struct answer fresh = {"Lyon.", LR_FINISH_STOP, 0, 0};
    assert_int_equal(run_full(f, &ch.c, 1, &fresh), 0);
    assert_int_equal(counter(f, "cache_stores", NULL), 2);
    assert_int_equal(run(f, &ch.c), 1);
    assert_string_equal(f->text, "Lyon.");
    /* A replaced entry keeps its slot: no eviction, one slot used. */
    assert_int_equal(counter(f, "cache_evictions", NULL), 0);
    /* A failed bypass leaves the entry alone. */
    struct answer failed = {"", LR_FINISH_NONE, 1, 0};
    assert_int_equal(run_full(f, &ch.c, 1, &failed), 0);
    assert_int_equal(run(f, &ch.c), 1);
    assert_string_equal(f->text, "Lyon.");
}

static void test_ttl_expiry(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "ttl_s", "10");
    make_ok(f);
    assert_int_equal(run_prompt(f, "q"), 0);
    fake_host_advance(f->p.fh, 9999);
    assert_int_equal(run_prompt(f, "q"), 1);
    fake_host_advance(f->p.fh, 1);
    assert_int_equal(run_prompt(f, "q"), 0);
    /* Stored again on that miss, for another ttl_s. */
    assert_int_equal(counter(f, "cache_stores", NULL), 2);
    fake_host_advance(f->p.fh, 9999);
    assert_int_equal(run_prompt(f, "q"), 1);
}

static void test_fifo_eviction(void **state)
{
    struct fx *f = *state;
    static const char *const q[] = {"q0", "q1", "q2", "q3", "q4"};
    fake_section_set(f->p.sec, "max_entries", "3");
    make_ok(f);
    for (int i = 0; i < 5; i++)
        assert_int_equal(run_prompt(f, q[i]), 0);
    assert_int_equal(counter(f, "cache_evictions", NULL), 2);
    /* The first two stored are gone, the last three stay (hits do not
       move an entry: FIFO, not LRU). */
    assert_int_equal(run_prompt(f, q[2]), 1);
    assert_int_equal(run_prompt(f, q[2]), 1);
    assert_int_equal(run_prompt(f, q[3]), 1);
    assert_int_equal(run_prompt(f, q[4]), 1);
    assert_int_equal(run_prompt(f, q[0]), 0);
    /* q0 came back in q2's slot, whatever q2's hits. */
    assert_int_equal(run_prompt(f, q[2]), 0);
    assert_int_equal(run_prompt(f, q[0]), 1);
    assert_int_equal(counter(f, "cache_evictions", NULL), 4);
}

static void test_eviction_one_entry_same_request(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "max_entries", "1");
    fake_section_set(f->p.sec, "ttl_s", "10");
    make_ok(f);
    assert_int_equal(run_prompt(f, "a"), 0);
    fake_host_advance(f->p.fh, 10000);
    /* The slot expired with the entry; storing "a" again evicts nothing
       and keeps it. */
    assert_int_equal(run_prompt(f, "a"), 0);
    assert_int_equal(run_prompt(f, "a"), 1);
    /* The entry lost (unreadable) while its slot lives: stored again in
       a new slot that held our own hash, which must not be deleted. */
    char key[64];
    last_entry_key(f, key, sizeof key);
    assert_int_equal(f->p.h->store_set(f->p.h, key, "junk", 4, 0), LR_OK);
    assert_int_equal(run_prompt(f, "a"), 0);
    assert_int_equal(run_prompt(f, "a"), 1);
    assert_int_equal(counter(f, "cache_evictions", NULL), 0);
    assert_int_equal(run_prompt(f, "b"), 0);
    assert_int_equal(counter(f, "cache_evictions", NULL), 1);
    assert_int_equal(run_prompt(f, "a"), 0);
}

static void test_collision_is_a_miss(void **state)
{
    struct fx *f = *state;
    make_ok(f);
    char key[64];
    assert_int_equal(run_prompt(f, "mine"), 0);
    last_entry_key(f, key, sizeof key);
    /* Another request's entry under our hash: as a collision leaves it. */
    static const char other[] =
        "{\"key\":\"[\\\"llmroute-cache-1\\\",\\\"other\\\"]\","
        "\"target\":\"t\",\"model\":\"m\",\"text\":\"NOT YOURS\","
        "\"tool_calls\":\"\",\"finish\":\"stop\",\"prompt_tokens\":1,"
        "\"completion_tokens\":1,\"stored_ms\":0}";
    assert_int_equal(f->p.h->store_set(f->p.h, key, other, strlen(other),
                                       60000), LR_OK);
    assert_int_equal(run_prompt(f, "mine"), 0);
    assert_int_equal(counter(f, "cache_collisions", NULL), 1);
    assert_true(fake_host_log_contains(f->p.fh, "hash collision on entry"));
    /* Our answer does not overwrite the other request's entry. */
    assert_int_equal(counter(f, "cache_not_stored", "exists"), 1);
    assert_int_equal(run_prompt(f, "mine"), 0);
    assert_int_equal(counter(f, "cache_hits", NULL), 0);
    /* Nor does a bypass. */
    struct chat ch;
    chat_init(&ch, "mine");
    assert_int_equal(run_full(f, &ch.c, 1, &OK_ANSWER), 0);
    assert_int_equal(counter(f, "cache_not_stored", "exists"), 3);
    struct lr_buf b = {0};
    assert_int_equal(f->p.h->store_get(f->p.h, key, &b), LR_OK);
    assert_non_null(strstr(b.data, "NOT YOURS"));
    fake_buf_free(&b);
}

static void test_unreadable_entry(void **state)
{
    struct fx *f = *state;
    make_ok(f);
    char key[64];
    assert_int_equal(run_prompt(f, "x"), 0);
    last_entry_key(f, key, sizeof key);
    static const char *const junk[] = {
        "not json", "{\"key\":1}", "[]",
        "{\"key\":\"k\",\"target\":\"\",\"model\":\"\",\"text\":\"\","
        "\"tool_calls\":\"\",\"finish\":\"stop\"}",
        "{\"key\":\"k\",\"target\":\"t\",\"model\":\"\",\"text\":\"\","
        "\"tool_calls\":\"\",\"finish\":\"error\"}"};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        assert_int_equal(f->p.h->store_set(f->p.h, key, junk[i],
                                           strlen(junk[i]), 0), LR_OK);
        /* A miss; the entry is deleted and the fresh answer stored. */
        assert_int_equal(run_prompt(f, "x"), 0);
        assert_int_equal(counter(f, "cache_bad_entries", NULL),
                         (double)(i + 1));
        assert_int_equal(run_prompt(f, "x"), 1);
    }
    assert_int_equal(counter(f, "cache_collisions", NULL), 0);
}

static void test_not_stored(void **state)
{
    struct fx *f = *state;
    make_ok(f);
    struct chat ch;
    chat_init(&ch, "q");
    struct answer a = {"t", LR_FINISH_STOP, 1, 0};
    assert_int_equal(run_full(f, &ch.c, 0, &a), 0);
    assert_int_equal(counter(f, "cache_not_stored", "failure"), 1);
    a.fail = 0;
    a.no_attempt = 1;
    assert_int_equal(run_full(f, &ch.c, 0, &a), 0);
    assert_int_equal(counter(f, "cache_not_stored", "no_attempt"), 1);
    a.no_attempt = 0;
    static const enum lr_finish never[] = {
        LR_FINISH_ERROR, LR_FINISH_NONE, LR_FINISH_CONTENT_FILTER,
        LR_FINISH_OTHER, LR_FINISH_LENGTH /* max_tokens unset */};
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++) {
        a.finish = never[i];
        assert_int_equal(run_full(f, &ch.c, 0, &a), 0);
    }
    assert_int_equal(counter(f, "cache_not_stored", "finish"), 5);
    assert_int_equal(counter(f, "cache_stores", NULL), 0);
    assert_int_equal(run(f, &ch.c), 0);
    /* length is stored when the request set its own max_tokens. */
    ch.c.max_tokens = 5;
    a.finish = LR_FINISH_LENGTH;
    assert_int_equal(run_full(f, &ch.c, 0, &a), 0);
    assert_int_equal(run(f, &ch.c), 1);
    /* tool_calls answers are stored. */
    chat_init(&ch, "weather?");
    a.finish = LR_FINISH_TOOL_CALLS;
    assert_int_equal(run_full(f, &ch.c, 0, &a), 0);
    assert_int_equal(run(f, &ch.c), 1);
}

static void test_finish_configurable_and_size(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "cache_finish", "content_filter");
    fake_section_set(f->p.sec, "max_entry_bytes", "1024");
    make_ok(f);
    struct chat ch;
    chat_init(&ch, "q");
    assert_int_equal(run(f, &ch.c), 0); /* stop: not in the list */
    assert_int_equal(counter(f, "cache_not_stored", "finish"), 1);
    struct answer a = {"refused", LR_FINISH_CONTENT_FILTER, 0, 0};
    assert_int_equal(run_full(f, &ch.c, 0, &a), 0);
    assert_int_equal(run(f, &ch.c), 1);
    assert_string_equal(f->text, "refused");
    /* An entry over max_entry_bytes is not stored. */
    static char big[1100];
    memset(big, 'x', sizeof big - 1);
    a.text = big;
    chat_init(&ch, "big");
    assert_int_equal(run_full(f, &ch.c, 0, &a), 0);
    assert_int_equal(counter(f, "cache_not_stored", "too_large"), 1);
    assert_int_equal(run_full(f, &ch.c, 0, &a), 0);
    /* So does a long prompt: the entry holds the request. */
    big[900] = '\0';
    chat_init(&ch, big);
    a.text = "short";
    assert_int_equal(run_full(f, &ch.c, 0, &a), 0);
    assert_int_equal(counter(f, "cache_not_stored", "too_large"), 3);
}

static void test_no_chat_and_counters(void **state)
{
    struct fx *f = *state;
    make_ok(f);
    struct lr_policy_req req = {1, NULL, NULL, NULL, 0};
    void *rs = (void *)&req;
    char msg[16];
    int64_t hint = -1;
    assert_int_equal(f->p.ops->on_request(f->p.inst, &req, &rs, msg, sizeof msg,
                                          &hint), LR_OK);
    assert_null(rs);
    f->p.ops->on_complete(f->p.inst, &req, rs, NULL);
    assert_int_equal(counter(f, "cache_misses", NULL), 0);
    /* Hit rate = hits / (hits + misses): 3 of 4 here. */
    for (int i = 0; i < 4; i++)
        run_prompt(f, "same");
    assert_int_equal(counter(f, "cache_hits", NULL), 3);
    assert_int_equal(counter(f, "cache_misses", NULL), 1);
}

static void test_shared_store_two_instances(void **state)
{
    struct fx *f = *state;
    make_ok(f);
    void *other = NULL;
    char err[128];
    assert_int_equal(f->p.desc->create(f->p.sec, f->p.h, &other, err,
                                       sizeof err), LR_OK);
    assert_int_equal(run_prompt(f, "shared"), 0);
    void *keep = f->p.inst;
    f->p.inst = other;
    assert_int_equal(run_prompt(f, "shared"), 1);
    f->p.inst = keep;
    f->p.desc->destroy(other);
}

/* The key does not depend on LC_NUMERIC: an application that sets a
   comma-decimal locale shares a sqlite store with C-locale processes, so
   an entry stored by one must be hit by the other, both ways. */
static void test_key_comma_locale(void **state)
{
    struct fx *f = *state;
    char c_key[64], comma_key[64], again[64];
    fake_section_set(f->p.sec, "max_temperature", "1");
    make_ok(f);
    struct chat ch;
    chat_init(&ch, "Tell a story");
    ch.c.has_temperature = 1;
    ch.c.temperature = 0.7;
    assert_int_equal(run(f, &ch.c), 0);
    last_entry_key(f, c_key, sizeof c_key);
    COMMA_LOCALE_OR_SKIP();
    int hit = run(f, &ch.c);            /* stored in C, read under ',' */
    ch.c.temperature = 0.25;
    int miss = run(f, &ch.c);           /* stored under ',' */
    last_entry_key(f, comma_key, sizeof comma_key);
    comma_locale_reset();
    assert_int_equal(hit, 1);
    assert_int_equal(miss, 0);
    assert_int_equal(run(f, &ch.c), 1); /* read in C */
    last_entry_key(f, again, sizeof again);
    assert_string_equal(again, comma_key); /* nothing stored since */
    assert_string_not_equal(c_key, comma_key);
}

#define T(fn) \
    cmocka_unit_test_setup_teardown(fn, setup, policy_fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_descriptor),
        T(test_config_errors),
        T(test_miss_store_hit),
        T(test_key_fields),
        cmocka_unit_test(test_key_sampling_text),
        T(test_key_ignores_and_normalises),
        T(test_temperature),
        T(test_bypass),
        T(test_ttl_expiry),
        T(test_fifo_eviction),
        T(test_eviction_one_entry_same_request),
        T(test_collision_is_a_miss),
        T(test_unreadable_entry),
        T(test_not_stored),
        T(test_finish_configurable_and_size),
        T(test_no_chat_and_counters),
        T(test_shared_store_two_instances),
        T(test_key_comma_locale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
