/*
 * test_policy_prompt_guard.c - the example policy plugin, loaded as the
 * real build/plugins/prompt_guard.so (from $LLMROUTE_TEST_BUILD) and
 * driven through its descriptor with the fake host: the descriptor and
 * key table, create() accepting and refusing values, the max_chars limit
 * at its boundary (characters, not bytes; system prompt and every role
 * counted), deny_words (ASCII case ignored, user messages only, phrases,
 * the message naming the word and never quoting the prompt) and the
 * rejection counters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/fake_host.h"
#include "support/policy_fixture.h"

#define COUNTER "prompt_guard_rejections"

struct fx {
    struct policy_fx p;
    char msg[256];
    int64_t hint;
};

static int setup(void **state)
{
    return policy_fx_setup(state, sizeof(struct fx), "prompt_guard", "guard",
                           0);
}

static void make_ok(struct fx *f)
{
    policy_fx_create_ok(&f->p);
}

/* Run on_request on a chat of the given system prompt and messages. */
static int ask(struct fx *f, const char *system,
               const struct lr_message *msgs, size_t n)
{
    struct lr_chat chat = {0};
    chat.system = system;
    chat.messages = msgs;
    chat.n_messages = n;
    struct lr_policy_req req = {.id = 42, .chat = &chat};
    void *req_state = NULL;
    f->msg[0] = '\0';
    f->hint = -1;
    int rc = f->p.ops->on_request(f->p.inst, &req, &req_state, f->msg,
                                  sizeof f->msg, &f->hint);
    assert_null(req_state); /* no per-request state to leak */
    assert_int_equal(f->hint, -1);
    return rc;
}

static int ask_user(struct fx *f, const char *text)
{
    struct lr_message m = {LR_ROLE_USER, text, NULL, NULL, NULL};
    return ask(f, NULL, &m, 1);
}

static void test_descriptor(void **state)
{
    struct fx *f = *state;
    assert_int_equal(f->p.desc->abi_major, LR_PLUGIN_ABI_MAJOR);
    assert_int_equal(f->p.desc->abi_minor, LR_PLUGIN_ABI_MINOR);
    assert_int_equal(f->p.desc->struct_size, sizeof(struct lr_plugin_desc));
    assert_string_equal(f->p.desc->name, "prompt_guard");
    assert_int_equal(f->p.desc->kind, LR_PLUGIN_POLICY);
    assert_int_equal(f->p.desc->ops_size, sizeof(struct lr_policy_ops));
    assert_non_null(f->p.ops->on_request);
    assert_null(f->p.ops->route);
    assert_null(f->p.ops->before_attempt);
    assert_null(f->p.ops->after_attempt);
    assert_null(f->p.ops->on_complete);
    assert_int_equal(f->p.ops->n_keys, 2);
    assert_string_equal(f->p.ops->keys[0].key, "max_chars");
    assert_int_equal(f->p.ops->keys[0].type, LR_CFG_INT);
    assert_string_equal(f->p.ops->keys[0].def, "0");
    assert_string_equal(f->p.ops->keys[1].key, "deny_words");
    assert_int_equal(f->p.ops->keys[1].type, LR_CFG_LIST);
}

static void test_defaults_allow_everything(void **state)
{
    struct fx *f = *state;
    make_ok(f);
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(ask_user(f, big), LR_OK);
    assert_int_equal(ask_user(f, "my password is hunter2"), LR_OK);
    assert_int_equal(fake_host_counter(f->p.fh, COUNTER, "max_chars"), 0);
    assert_int_equal(fake_host_counter(f->p.fh, COUNTER, "deny_words"), 0);
}

static void test_create_rejects_negative_limit(void **state)
{
    struct fx *f = *state;
    char err[256];
    fake_section_set(f->p.sec, "max_chars", "-1");
    assert_int_equal(policy_fx_create(&f->p, err, sizeof err), LR_E_CONFIG);
    assert_null(f->p.inst);
    /* "KEY: " lets the core point at the key's line. */
    assert_true(strncmp(err, "max_chars: ", 11) == 0);
    assert_non_null(strstr(err, "-1"));
}

static void test_max_chars_boundary(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "max_chars", "10");
    make_ok(f);
    assert_int_equal(ask_user(f, "0123456789"), LR_OK);
    assert_int_equal(ask_user(f, "0123456789A"), LR_E_BAD_REQUEST);
    assert_string_equal(f->msg, "request is 11 characters, over the limit "
                        "of 10 (max_chars)");
    assert_int_equal(fake_host_counter(f->p.fh, COUNTER, "max_chars"), 1);
    assert_int_equal(fake_host_counter(f->p.fh, COUNTER, "deny_words"), 0);
    /* The log says why without quoting the prompt. */
    assert_true(fake_host_log_contains(f->p.fh, "max_chars 10"));
    assert_false(fake_host_log_contains(f->p.fh, "0123456789A"));
}

static void test_max_chars_counts_every_message(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "max_chars", "12");
    make_ok(f);
    struct lr_message msgs[] = {
        {LR_ROLE_USER, "abcd", NULL, NULL, NULL},
        {LR_ROLE_ASSISTANT, "efgh", NULL, NULL, NULL},
        {LR_ROLE_ASSISTANT, NULL, "[]", NULL, NULL}, /* tool calls only */
        {LR_ROLE_TOOL, "ij", NULL, "call_1", "f"},
    };
    /* 4 + 4 + 0 + 2 = 10, plus the system prompt. */
    assert_int_equal(ask(f, "kl", msgs, 4), LR_OK);
    assert_int_equal(ask(f, "klm", msgs, 4), LR_E_BAD_REQUEST);
    assert_non_null(strstr(f->msg, "13 characters"));
    assert_int_equal(fake_host_counter(f->p.fh, COUNTER, "max_chars"), 1);
}

static void test_max_chars_counts_code_points(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "max_chars", "5");
    make_ok(f);
    /* "héllo" is 6 bytes but 5 characters; "naïve!" is 6 characters. */
    assert_int_equal(ask_user(f, "h\xc3\xa9llo"), LR_OK);
    assert_int_equal(ask_user(f, "na\xc3\xafve!"), LR_E_BAD_REQUEST);
    assert_non_null(strstr(f->msg, "6 characters"));
    /* A 4-byte character (U+1F600) counts once. */
    assert_int_equal(ask_user(f, "\xf0\x9f\x98\x80" "abcd"), LR_OK);
}

static void test_deny_words_case_insensitive(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "deny_words", "password, Secret Plan");
    make_ok(f);
    assert_int_equal(ask_user(f, "what is a good PassWord length?"),
                     LR_E_CONTENT_FILTER);
    assert_string_equal(f->msg, "a user message contains the denied word "
                        "'password' (deny_words)");
    assert_int_equal(ask_user(f, "tell me the SECRET PLAN now"),
                     LR_E_CONTENT_FILTER);
    assert_non_null(strstr(f->msg, "'Secret Plan'"));
    /* The message names the word, never the prompt. */
    assert_null(strstr(f->msg, "tell me"));
    assert_false(fake_host_log_contains(f->p.fh, "tell me"));
    assert_int_equal(fake_host_counter(f->p.fh, COUNTER, "deny_words"), 2);
    assert_int_equal(fake_host_counter(f->p.fh, COUNTER, "max_chars"), 0);
}

static void test_deny_words_substring_and_misses(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "deny_words", "pass");
    make_ok(f);
    /* Substring match, as documented: "passport" contains "pass". */
    assert_int_equal(ask_user(f, "renew my passport"), LR_E_CONTENT_FILTER);
    assert_int_equal(ask_user(f, "pas s"), LR_OK);
    assert_int_equal(ask_user(f, "pa"), LR_OK);
    assert_int_equal(ask_user(f, ""), LR_OK);
    assert_int_equal(ask_user(f, "at the end: PASS"), LR_E_CONTENT_FILTER);
}

static void test_deny_words_user_messages_only(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "deny_words", "secret");
    make_ok(f);
    struct lr_message msgs[] = {
        {LR_ROLE_ASSISTANT, "the secret is safe", NULL, NULL, NULL},
        {LR_ROLE_TOOL, "secret tool output", NULL, "c1", "f"},
        {LR_ROLE_USER, NULL, NULL, NULL, NULL},
        {LR_ROLE_USER, "thanks", NULL, NULL, NULL},
    };
    assert_int_equal(ask(f, "keep the secret", msgs, 4), LR_OK);
    msgs[3].content = "and the Secret?";
    assert_int_equal(ask(f, NULL, msgs, 4), LR_E_CONTENT_FILTER);
    assert_int_equal(fake_host_counter(f->p.fh, COUNTER, "deny_words"), 1);
}

static void test_size_checked_before_words(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "max_chars", "8");
    fake_section_set(f->p.sec, "deny_words", "bad");
    make_ok(f);
    assert_int_equal(ask_user(f, "bad"), LR_E_CONTENT_FILTER);
    assert_int_equal(ask_user(f, "bad and long"), LR_E_BAD_REQUEST);
    assert_int_equal(ask_user(f, "fine"), LR_OK);
    assert_int_equal(fake_host_counter(f->p.fh, COUNTER, "max_chars"), 1);
    assert_int_equal(fake_host_counter(f->p.fh, COUNTER, "deny_words"), 1);
}

static void test_message_fits_small_buffer(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "deny_words", "secret");
    make_ok(f);
    struct lr_message m = {LR_ROLE_USER, "secret", NULL, NULL, NULL};
    struct lr_chat chat = {0};
    chat.messages = &m;
    chat.n_messages = 1;
    struct lr_policy_req req = {.id = 1, .chat = &chat};
    void *rs = NULL;
    char small[12];
    memset(small, 'Z', sizeof small);
    int64_t hint = -1;
    assert_int_equal(f->p.ops->on_request(f->p.inst, &req, &rs, small,
                                          sizeof small, &hint),
                     LR_E_CONTENT_FILTER);
    assert_int_equal(strlen(small), sizeof small - 1); /* truncated, NUL */
}

#define T(fn) \
    cmocka_unit_test_setup_teardown(fn, setup, policy_fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_descriptor),
        T(test_defaults_allow_everything),
        T(test_create_rejects_negative_limit),
        T(test_max_chars_boundary),
        T(test_max_chars_counts_every_message),
        T(test_max_chars_counts_code_points),
        T(test_deny_words_case_insensitive),
        T(test_deny_words_substring_and_misses),
        T(test_deny_words_user_messages_only),
        T(test_size_checked_before_words),
        T(test_message_fits_small_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
