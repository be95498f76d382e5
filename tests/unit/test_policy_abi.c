/*
 * test_policy_abi.c - the plugin ABI 1.1 as the core implements it, end
 * to end through the public API with the testpol fixture against the
 * mock upstream: a policy answering from on_request (req_respond), ending
 * a request from an attempt hook (req_reject), request attributes in and
 * out (tier_want, tier), conversation and cache bypass, the attempt view
 * (estimates, candidates left, usage and cost), req_result in
 * on_complete, policy-declared [target] keys and lr_classify_json().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "llmroute.h"
#include "mock_upstream.h"
#include "router.h"
#include "testenv.h"

struct fx {
    struct tenv env;
    struct mock_upstream *mock;
    struct lr_router *r;
};

/* Targets a and b on the mock (a answers "from a" with usage), one
   testpol instance p with policy_keys, a_keys added to [target a]. */
static const char *write_ini(struct fx *f, const char *policy_keys,
                             const char *a_keys, const char *pipeline)
{
    return tenv_write(&f->env, "p.ini",
        "[router]\npipeline = %s\n"
        "[target a]\nprovider = openai\nmodel = model-a\n"
        "base_url = http://127.0.0.1:%d/v1\ninput_usd_per_mtok = 1000000\n"
        "output_usd_per_mtok = 2000000\n%s\n"
        "[target b]\nprovider = openai\nmodel = model-b\n"
        "base_url = http://127.0.0.1:%d/v1\n"
        "[policy p]\nplugin = testpol\n%s\n",
        pipeline, mock_port(f->mock), a_keys, mock_port(f->mock),
        policy_keys);
}

static void setup_with(struct fx *f, const char *policy_keys,
                       const char *a_keys)
{
    char err[512];
    f->mock = mock_start("{\"routes\":[{\"name\":\"a\",\"model\":\"model-a\","
        "\"repeat\":\"last\",\"responses\":[{\"status\":200,\"text\":"
        "\"from a\",\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":"
        "2}}]},{\"name\":\"b\",\"model\":\"model-b\",\"repeat\":\"last\","
        "\"responses\":[{\"status\":200,\"echo\":true}]}]}", err, sizeof err);
    if (!f->mock)
        fail_msg("mock: %s", err);
    assert_int_equal(tenv_init(&f->env), 0);
    const char *path = write_ini(f, policy_keys, a_keys, "p");
    f->r = lr_open(path, err, sizeof err);
    if (!f->r)
        fail_msg("lr_open: %s", err);
}

static void teardown(struct fx *f)
{
    lr_close(f->r);
    mock_stop(f->mock);
    tenv_free(&f->env);
}

/* What testpol recorded under seen/<what> ("" when nothing). */
static char *seen(struct fx *f, const char *what)
{
    static char out[512];
    char key[96];
    snprintf(key, sizeof key, "policy/p/seen/%s", what);
    struct lr_buf v = {0};
    struct lr_store *s = f->r->store;
    out[0] = '\0';
    if (s->ops->get(s, key, &v) == LR_OK)
        snprintf(out, sizeof out, "%s", lr_buf_str(&v));
    lr_buf_free(&v);
    return out;
}

static struct lr_response *ask(struct fx *f, struct lr_request *q)
{
    struct lr_response *resp = NULL;
    lr_complete(f->r, q, &resp);
    assert_non_null(resp);
    return resp;
}

static struct lr_request *prompt(const char *text)
{
    struct lr_request *q = lr_request_new();
    assert_int_equal(lr_request_set_prompt(q, text), LR_OK);
    return q;
}

struct deltas {
    int n;
    char text[128];
};

static int on_delta(const char *text, size_t len, void *user)
{
    struct deltas *d = user;
    d->n++;
    strncat(d->text, text, len < sizeof d->text - strlen(d->text) - 1
                               ? len : sizeof d->text - strlen(d->text) - 1);
    return 0;
}

static void policy_answers(void **s)
{
    (void)s;
    struct fx f;
    setup_with(&f, "respond_text = from the policy", "");
    struct lr_request *q = prompt("hello");
    struct lr_response *r = ask(&f, q);
    assert_int_equal(lr_response_status(r), LR_OK);
    assert_string_equal(lr_response_text(r), "from the policy");
    assert_string_equal(lr_response_target(r), "a");
    assert_string_equal(lr_response_provider(r), "openai");
    assert_string_equal(lr_response_served_by(r), "p");
    assert_int_equal(lr_response_prompt_tokens(r), 5);
    assert_int_equal(lr_response_completion_tokens(r), 6);
    assert_true(lr_response_cost_usd(r) == 0.0);
    assert_int_equal(lr_response_attempt_count(r), 0);
    char *j = lr_response_json(r);
    assert_non_null(strstr(j, "\"served_by\":\"p\""));
    lr_free(j);
    lr_response_free(r);
    assert_int_equal(mock_requests(f.mock, NULL), 0);
    assert_string_equal(seen(&f, "result"), "from the policy");

    /* A streaming caller gets the answer as one delta. */
    struct deltas d = {0};
    assert_int_equal(lr_stream(f.r, q, on_delta, &d, &r), LR_OK);
    assert_int_equal(d.n, 1);
    assert_string_equal(d.text, "from the policy");
    lr_response_free(r);
    lr_request_free(q);
    teardown(&f);
}

static void policy_rejects_from_attempt_hook(void **s)
{
    (void)s;
    struct fx f;
    setup_with(&f, "reject_status = 11", "");
    struct lr_request *q = prompt("hello");
    struct lr_response *r = ask(&f, q);
    assert_int_equal(lr_response_status(r), LR_E_BUDGET_EXCEEDED);
    assert_string_equal(lr_response_error_message(r), "p: testing reject");
    assert_int_equal(lr_response_retry_after_ms(r), 777);
    assert_int_equal(mock_requests(f.mock, NULL), 0);
    assert_string_equal(seen(&f, "result"), "(failed)");
    lr_response_free(r);
    lr_request_free(q);
    teardown(&f);
}

static void attributes_in_and_out(void **s)
{
    (void)s;
    struct fx f;
    setup_with(&f, "set_tier = medium", "");
    struct lr_request *q = prompt("hello");
    assert_int_equal(lr_request_set_attr(q, "tier_want", "complex"), LR_OK);
    assert_int_equal(lr_request_set_conversation(q, "conv-7"), LR_OK);
    assert_int_equal(lr_request_set_cache_bypass(q, 1), LR_OK);
    assert_int_equal(lr_request_set_attr(q, "", "x"), LR_E_INVALID_ARG);
    struct lr_response *r = ask(&f, q);
    assert_int_equal(lr_response_status(r), LR_OK);
    assert_string_equal(lr_response_tier(r), "medium");
    char *j = lr_response_json(r);
    assert_non_null(strstr(j, "\"tier\":\"medium\""));
    lr_free(j);
    lr_response_free(r);
    assert_string_equal(seen(&f, "tier_want"), "complex");
    assert_string_equal(seen(&f, "conversation"), "conv-7");
    assert_string_equal(seen(&f, "bypass"), "1");
    /* Removing an attribute; and the request's own copy is untouched by
       what policies set on the router's copy. */
    assert_int_equal(lr_request_set_attr(q, "tier_want", NULL), LR_OK);
    lr_request_set_cache_bypass(q, 0);
    r = ask(&f, q);
    lr_response_free(r);
    assert_string_equal(seen(&f, "tier_want"), "(none)");
    assert_string_equal(seen(&f, "bypass"), "0");
    lr_request_free(q);
    teardown(&f);
}

static void attempt_view(void **s)
{
    (void)s;
    struct fx f;
    setup_with(&f, "", "max_tokens = 64");
    /* "hello world" is 11 bytes: (11+3)/4 + 4 * (1 message + 1) = 11 */
    struct lr_request *q = prompt("hello world");
    struct lr_response *r = ask(&f, q);
    assert_int_equal(lr_response_status(r), LR_OK);
    lr_response_free(r);
    assert_string_equal(seen(&f, "attempt"), "key= est=11 max=64 left=1");
    /* cost of a's answer: 3 tokens at $1/token in, 2 at $2/token out */
    assert_non_null(strstr(seen(&f, "rl"), "cost=7.000000"));
    assert_string_equal(seen(&f, "result"), "from a");
    lr_request_set_max_tokens(q, 100);
    r = ask(&f, q);
    lr_response_free(r);
    assert_string_equal(seen(&f, "attempt"), "key= est=11 max=100 left=1");
    lr_request_free(q);
    teardown(&f);
}

static void policy_target_keys(void **s)
{
    (void)s;
    struct fx f;
    setup_with(&f, "", "testpol_weight = 3");
    teardown(&f);

    /* Not in the pipeline: the key is unknown. */
    char err[512];
    f.mock = mock_start("{\"routes\":[]}", err, sizeof err);
    assert_non_null(f.mock);
    assert_int_equal(tenv_init(&f.env), 0);
    const char *path = write_ini(&f, "", "testpol_weight = 3", "");
    assert_null(lr_open(path, err, sizeof err));
    assert_non_null(strstr(err, "p.ini:9: unknown key 'testpol_weight' in "
                                "[target a]"));
    /* In the pipeline but of the wrong type: FILE:LINE. */
    path = write_ini(&f, "", "testpol_weight = heavy", "p");
    assert_null(lr_open(path, err, sizeof err));
    assert_non_null(strstr(err, "p.ini:9: testpol_weight: expected a "
                                "whole number"));
    /* A policy's range check of its target keys: FILE:LINE of the key. */
    path = tenv_write(&f.env, "l.ini",
        "[router]\npipeline = lim\n"
        "[target a]\nprovider = openai\nmodel = m\n"
        "base_url = http://127.0.0.1:9/v1\nrpm = -5\n"
        "[policy lim]\nplugin = limits\n");
    assert_null(lr_open(path, err, sizeof err));
    assert_non_null(strstr(err, "l.ini:7: [target a] (read by policy lim): "
                                "rpm: must be 0 (none) to"));
    path = tenv_write(&f.env, "b.ini",
        "[router]\npipeline = budget\n"
        "[target a]\nprovider = openai\nmodel = m\n"
        "base_url = http://127.0.0.1:9/v1\ndaily_usd = -1\n"
        "[policy budget]\nplugin = budget_guard\n");
    assert_null(lr_open(path, err, sizeof err));
    assert_non_null(strstr(err, "b.ini:7: [target a] (read by policy "
                                "budget): daily_usd: must be 0"));
    mock_stop(f.mock);
    tenv_free(&f.env);
}

static void classify_json(void **s)
{
    (void)s;
    struct fx f;
    setup_with(&f, "classify_tier = simple", "");
    struct lr_request *q = prompt("what is 2+2?");
    char err[256];
    char *j = lr_classify_json(f.r, q, err, sizeof err);
    assert_non_null(j);
    assert_string_equal(j, "{\"tier\":\"simple\",\"score\":1.5,"
                           "\"features\":{}}");
    lr_free(j);
    struct lr_request *empty = lr_request_new();
    assert_null(lr_classify_json(f.r, empty, err, sizeof err));
    assert_string_equal(err, "request has no message");
    lr_request_free(empty);
    assert_int_equal(mock_requests(f.mock, NULL), 0);
    teardown(&f);

    setup_with(&f, "", "");
    assert_null(lr_classify_json(f.r, q, err, sizeof err));
    assert_non_null(strstr(err, "no policy in the pipeline had an opinion"));
    teardown(&f);
    lr_request_free(q);
}

/* The cache policy through the public API: the second identical request
   is served from the store without reaching the upstream, and counts for
   the router but not as a call to the target. */
static void cache_end_to_end(void **s)
{
    (void)s;
    struct fx f;
    char err[512];
    f.mock = mock_start("{\"routes\":[{\"name\":\"a\",\"model\":"
        "\"model-a\",\"responses\":[{\"status\":200,\"echo\":true}]}]}",
        err, sizeof err);
    assert_non_null(f.mock);
    assert_int_equal(tenv_init(&f.env), 0);
    const char *path = tenv_write(&f.env, "c.ini",
        "[router]\npipeline = cache\n"
        "[target a]\nprovider = openai\nmodel = model-a\n"
        "base_url = http://127.0.0.1:%d/v1\n"
        "[policy cache]\nplugin = cache\nttl_s = 60\n", mock_port(f.mock));
    f.r = lr_open(path, err, sizeof err);
    if (!f.r)
        fail_msg("lr_open: %s", err);
    struct lr_request *q = prompt("same question");
    struct lr_response *r = ask(&f, q);
    assert_int_equal(lr_response_status(r), LR_OK);
    assert_null(lr_response_served_by(r));
    lr_response_free(r);
    r = ask(&f, q);
    assert_int_equal(lr_response_status(r), LR_OK);
    assert_string_equal(lr_response_text(r), "echo: same question");
    assert_string_equal(lr_response_served_by(r), "cache");
    assert_int_equal(lr_response_attempt_count(r), 0);
    lr_response_free(r);
    assert_int_equal(mock_requests(f.mock, "a"), 1);
    lr_request_set_cache_bypass(q, 1);
    r = ask(&f, q);
    assert_null(lr_response_served_by(r));
    lr_response_free(r);
    assert_int_equal(mock_requests(f.mock, "a"), 2);
    char *m = lr_metrics_json(f.r);
    assert_non_null(strstr(m, "cache_hits"));
    lr_free(m);
    lr_request_free(q);
    teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(policy_answers),
        cmocka_unit_test(policy_rejects_from_attempt_hook),
        cmocka_unit_test(attributes_in_and_out),
        cmocka_unit_test(attempt_view),
        cmocka_unit_test(policy_target_keys),
        cmocka_unit_test(classify_json),
        cmocka_unit_test(cache_end_to_end),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
