/*
 * test_policy_complexity.c - the complexity router, loaded as the real
 * build/plugins/complexity.so and driven through its hooks with the fake
 * host, its target sections, a real memory store and the fake clock: the key
 * table, config errors (unknown targets, missing tiers, cut-offs in the
 * wrong order, negative weights), features counted on crafted prompts (code
 * blocks, stack traces, math, operations and units, relations between
 * quantities, questions, turns, the
 * scan bound of a huge paste), quantity and operation signals that keep
 * growing past 3-4 quantities, a score that grows with evidence, cut-offs,
 * candidate lists with default, configured and empty fallbacks, tier_want,
 * tier_cap, conversation stickiness across requests (raise-only, TTL, cap
 * beats it), the tier attribute and counter, and classify's JSON without
 * side effects.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/comma_locale.h"
#include "support/fake_host.h"
#include "support/policy_fixture.h"

static const char *const TARGETS[] = {"s1", "s2", "m1", "c1", "c2", "x"};
#define NTARGETS (sizeof TARGETS / sizeof TARGETS[0])

struct fx {
    struct policy_fx p;
    /* the request under test */
    struct lr_message msgs[8];
    struct lr_chat chat;
    struct lr_policy_req req;
    struct lr_candidates *cands;
};

static void tier_lists(struct fx *f)
{
    fake_section_set(f->p.sec, "simple", "s1, s2");
    fake_section_set(f->p.sec, "medium", "m1");
    fake_section_set(f->p.sec, "complex", "c1, c2");
}

static int setup(void **state)
{
    if (policy_fx_setup(state, sizeof(struct fx), "complexity", "router",
                        POLICY_FX_STORE) != 0)
        return -1;
    struct fx *f = *state;
    for (size_t i = 0; i < NTARGETS; i++)
        if (!policy_fx_target(&f->p, TARGETS[i]))
            return -1;
    tier_lists(f);
    f->req.id = 1;
    f->req.chat = &f->chat;
    f->chat.messages = f->msgs;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    fake_cands_free(f->cands);
    return policy_fx_teardown(state);
}

static void make_ok(struct fx *f)
{
    policy_fx_create_ok(&f->p);
}

/* create() must fail with exactly this error. */
static void make_fails(struct fx *f, const char *want)
{
    char err[256];
    if (policy_fx_create(&f->p, err, sizeof err) == LR_OK)
        fail_msg("create accepted what should fail with: %s", want);
    assert_null(f->p.inst);
    assert_string_equal(err, want);
}

/* --- Requests ------------------------------------------------------------ */

/* A fresh request (new id: the fake keeps attributes per pointer, so the
   old request's are forgotten) with one user prompt and conversation
   id conv (NULL: none). */
static void ask(struct fx *f, const char *prompt, const char *conv)
{
    fake_req_forget(f->p.fh, &f->req);
    f->req.id++;
    f->req.conversation = conv;
    f->chat.n_messages = 1;
    f->msgs[0] = (struct lr_message){LR_ROLE_USER, prompt, NULL, NULL, NULL};
}

static void attr(struct fx *f, const char *key, const char *value)
{
    assert_int_equal(f->p.h->req_set(f->p.h, &f->req, key, value), LR_OK);
}

/* route() the current request; returns the tier attribute it set. */
static const char *route(struct fx *f)
{
    static const char *const start[] = {"x"};
    fake_cands_free(f->cands);
    f->cands = fake_cands_new(start, 1);
    assert_non_null(f->cands);
    assert_int_equal(f->p.ops->route(f->p.inst, &f->req, NULL, f->cands),
                     LR_OK);
    const char *tier = f->p.h->req_get(f->p.h, &f->req, "tier");
    assert_non_null(tier);
    return tier;
}

/* The candidates route() left, joined with commas. */
static const char *cands(struct fx *f)
{
    static char out[256];
    out[0] = '\0';
    for (size_t i = 0; i < f->p.h->cand_count(f->cands); i++) {
        if (i)
            strcat(out, ",");
        strcat(out, f->p.h->cand_get(f->cands, i));
    }
    return out;
}

/* classify() of the current request, parsed. */
static cJSON *classify(struct fx *f)
{
    struct lr_buf b = {0};
    assert_int_equal(f->p.ops->classify(f->p.inst, &f->req, &b), LR_OK);
    cJSON *j = cJSON_Parse(b.data);
    if (!j)
        fail_msg("classify gave no JSON: %s", b.data);
    fake_buf_free(&b);
    return j;
}

static double score_of(struct fx *f, const char *prompt)
{
    ask(f, prompt, NULL);
    cJSON *j = classify(f);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "score");
    assert_true(cJSON_IsNumber(s));
    double v = s->valuedouble;
    cJSON_Delete(j);
    return v;
}

/* Feature name of classify() for prompt. */
static int feature(struct fx *f, const char *prompt, const char *name)
{
    ask(f, prompt, NULL);
    cJSON *j = classify(f);
    const cJSON *fs = cJSON_GetObjectItemCaseSensitive(j, "features");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(fs, name);
    if (!cJSON_IsNumber(v))
        fail_msg("no feature %s", name);
    int n = v->valueint;
    cJSON_Delete(j);
    return n;
}

/* Weights all 0 and bias b: the score is b. */
static void flat_score(struct fx *f, const char *bias)
{
    static const char *const w[] = {
        "w_length", "w_code", "w_error", "w_math", "w_numbers",
        "w_operations", "w_relations", "w_multistep", "w_design",
        "w_questions", "w_turns", "w_easy"};
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
        fake_section_set(f->p.sec, w[i], "0");
    fake_section_set(f->p.sec, "bias", bias);
}

#define EASY "hi, thanks!"
#define HARD                                                               \
    "My C program crashes with a segfault. Find the bug and fix it:\n"    \
    "```c\nint last(struct node *n) {\n    while (n->next)\n"            \
    "        n = n->next;\n    return n->value;\n}\n```\n"

/* --- Tests ------------------------------------------------------------- */

static void test_descriptor(void **state)
{
    struct fx *f = *state;
    assert_string_equal(f->p.desc->name, "complexity");
    assert_int_equal(f->p.desc->kind, LR_PLUGIN_POLICY);
    assert_int_equal(f->p.desc->abi_major, LR_PLUGIN_ABI_MAJOR);
    assert_int_equal(f->p.desc->abi_minor, LR_PLUGIN_ABI_MINOR);
    assert_int_equal(f->p.desc->ops_size, sizeof(struct lr_policy_ops));
    assert_non_null(f->p.ops->route);
    assert_non_null(f->p.ops->classify);
    assert_null(f->p.ops->before_attempt);
    /* Tier lists have no default; weights and cut-offs do, so an INI
       needs only the three lists. */
    for (size_t i = 0; i < f->p.ops->n_keys; i++) {
        const struct lr_cfg_key *k = &f->p.ops->keys[i];
        int list = k->type == LR_CFG_LIST;
        assert_non_null(k->help);
        if (list)
            assert_null(k->def);
        else
            assert_non_null(k->def);
    }
    assert_string_equal(f->p.ops->keys[0].key, "simple");
    assert_string_equal(f->p.ops->keys[1].key, "medium");
    assert_string_equal(f->p.ops->keys[2].key, "complex");
    make_ok(f);
}

static void test_config_errors(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *key, *value, *err;
    } bad[] = {
        {"medium", "m1, nope", "medium: no target named 'nope'"},
        {"simple", "zz", "simple: no target named 'zz'"},
        {"fallback_complex", "s1, ghost",
         "fallback_complex: no target named 'ghost'"},
        {"complex", NULL, "complex: name the targets of the complex tier "
                          "(they may repeat another tier's)"},
        {"simple", "", "simple: name the targets of the simple tier (they "
                       "may repeat another tier's)"},
        {"medium_above", "3", "medium_above: must not be above "
                              "complex_above (3 > 2.2)"},
        {"w_code", "-1", "w_code: must be a weight from 0 to 1000000 (a "
                         "negative one would make the score fall with "
                         "evidence of difficulty)"},
        {"w_easy", "-0.5", "w_easy: must be a weight from 0 to 1000000 (a "
                           "negative one would make the score fall with "
                           "evidence of difficulty)"},
        {"w_length", "1e7", "w_length: must be a weight from 0 to 1000000 "
                            "(a negative one would make the score fall "
                            "with evidence of difficulty)"},
        {"bias", "1e9", "bias: must be between -1000000 and 1000000"},
        {"conversation_ttl_s", "0",
         "conversation_ttl_s: must be from 1 to 315360000 (ten years)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fake_section_set(f->p.sec, bad[i].key, bad[i].value);
        make_fails(f, bad[i].err);
        fake_section_set(f->p.sec, bad[i].key, NULL);
        tier_lists(f);
    }
    /* Equal cut-offs are fine: no medium tier then. */
    fake_section_set(f->p.sec, "medium_above", "2");
    fake_section_set(f->p.sec, "complex_above", "2");
    make_ok(f);
}

static void test_features_code_and_trace(void **state)
{
    struct fx *f = *state;
    make_ok(f);
    assert_int_equal(feature(f, HARD, "code_blocks"), 1);
    assert_int_equal(feature(f, HARD, "code_lines"), 5);
    assert_int_equal(feature(f, HARD, "error_words"), 3); /* crash,
                                                            segfault, bug */
    assert_int_equal(feature(f, EASY, "code_blocks"), 0);
    static const char trace[] =
        "Why does this fail?\n"
        "Traceback (most recent call last):\n"
        "  File \"app.py\", line 3, in <module>\n"
        "    main()\n"
        "ZeroDivisionError: division by zero\n"
        "TypeError: x is undefined\n"
        "    at render (App.jsx:14:22)\n"
        "main.c:12:5: error: expected ';'\n";
    assert_int_equal(feature(f, trace, "trace_lines"), 6);
    /* "main()" outside a fence is not a code line; prose stays prose. */
    assert_int_equal(feature(f, trace, "code_lines"), 0);
    assert_int_equal(feature(f, "x = 1;\nreturn x;\nhello there",
                             "code_lines"), 2);
}

static void test_features_math_questions_turns(void **state)
{
    struct fx *f = *state;
    make_ok(f);
    static const char word_problem[] =
        "Janet has 3 boxes with 12 apples each. She gives away a quarter "
        "of them and buys 7 more. How many apples does she have in total?";
    /* 3, 12, quarter, 7 */
    assert_int_equal(feature(f, word_problem, "numbers"), 4);
    /* each, how many, total */
    assert_int_equal(feature(f, word_problem, "math_words"), 3);
    /* ^, "2 - 8", = and \frac ("x + 6" is not digit-op-digit) */
    assert_int_equal(feature(f, "Solve 2x^2 - 8x + 6 = 0 and \\frac{1}{2}",
                             "math_symbols"), 4);
    assert_int_equal(feature(f, "Why? How? And when??", "questions"), 3);
    /* List items count as steps; their numbers are not quantities. */
    assert_int_equal(feature(f, "1. parse\n2. check\n- save", "steps"), 3);
    assert_int_equal(feature(f, "1. parse\n2. check\n- save", "numbers"), 0);
    /* Turns: the messages before the last user message. */
    ask(f, "first", NULL);
    f->msgs[1] = (struct lr_message){LR_ROLE_ASSISTANT, "reply", NULL, NULL,
                                     NULL};
    f->msgs[2] = (struct lr_message){LR_ROLE_USER, "second", NULL, NULL,
                                     NULL};
    f->msgs[3] = (struct lr_message){LR_ROLE_ASSISTANT, "reply", NULL, NULL,
                                     NULL};
    f->msgs[4] = (struct lr_message){LR_ROLE_USER, "third?", NULL, NULL,
                                     NULL};
    f->chat.n_messages = 5;
    cJSON *j = classify(f);
    const cJSON *fs = cJSON_GetObjectItemCaseSensitive(j, "features");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(fs, "turns")->valueint,
                     4);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(fs, "chars")->valueint,
                     6); /* "third?": the prompt only */
    cJSON_Delete(j);
    /* No user message at all: an empty prompt, simple. */
    f->msgs[0].role = LR_ROLE_ASSISTANT;
    f->chat.n_messages = 1;
    j = classify(f);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "tier")
                            ->valuestring, "simple");
    cJSON_Delete(j);
}

/* The weighted term of signal name in classify() for prompt. */
static double part(struct fx *f, const char *prompt, const char *name)
{
    ask(f, prompt, NULL);
    cJSON *j = classify(f);
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(j, "parts");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ps, name);
    if (!cJSON_IsNumber(v))
        fail_msg("no part %s", name);
    double d = v->valuedouble;
    cJSON_Delete(j);
    return d;
}

static void test_features_operations_units(void **state)
{
    struct fx *f = *state;
    make_ok(f);
    static const char wage[] =
        "Carlos works 8 hours a day, 5 days a week and earns $15 per "
        "hour. He spends 20% of it.";
    /* earns, per, spends, % */
    assert_int_equal(feature(f, wage, "operations"), 4);
    /* hour(s), day(s), week, $ */
    assert_int_equal(feature(f, wage, "units"), 4);
    /* Spellings of one unit count once: dollar(s) and $, cent(s),
       cup(s); paid, paid, each. */
    static const char shop[] = "He paid 3 dollars and 40 cents; she paid "
                               "$2 for 2 cups, 1 cup each.";
    assert_int_equal(feature(f, shop, "units"), 3);
    assert_int_equal(feature(f, shop, "operations"), 3);
    /* Stems stop where other words start: grammar, literature, Europe,
       cupcake are no units. */
    assert_int_equal(feature(f, "grammar, literature, Europe, cupcake",
                             "units"), 0);
    /* Arithmetic wording without quantities is prose: counted, but its
       signal is 0 (like the numbers signal, it needs dense quantities). */
    static const char prose[] =
        "Tell me more about each of them, and why less is more.";
    assert_int_equal(feature(f, prose, "operations"), 4);
    assert_float_equal(part(f, prose, "operations"), 0, 1e-12);
    assert_true(part(f, wage, "operations") > 0);
}

/* Quantities given through others: comparisons, multiples, fractions
   (words and digits), what is left, time shifts, the start to find. */
static void test_features_relations(void **state)
{
    struct fx *f = *state;
    make_ok(f);
    /* 3/4, the rest, twice, as many, ago: one per table entry, so
       "twice as many" counts two. */
    static const char rel[] =
        "Ann keeps 3/4 of the rest, twice as many as 2 years ago.";
    assert_int_equal(feature(f, rel, "relations"), 5);
    static const char age[] =
        "Jenny is 4 years older than Bo. How old was she at first?";
    assert_int_equal(feature(f, age, "relations"), 2); /* than, at first */
    /* Word boundaries: thanks, another, thirdly, agony are none; a
       slash between a digit and a letter is no fraction. */
    assert_int_equal(feature(f, "Thanks for another agony, thirdly 3/x",
                             "relations"), 0);
    /* Gated by density like numbers and operations: in prose without
       quantities a comparison counts for nothing. */
    static const char prose[] = "I would rather walk than drive, as many do.";
    assert_int_equal(feature(f, prose, "relations"), 2);
    assert_float_equal(part(f, prose, "relations"), 0, 1e-12);
    /* Half the weight at the first relation, more with each one. */
    double one = part(f, "Bo has 4 apples and twice as 3.", "relations");
    double none = part(f, "Bo has 4 apples and 3 pears.", "relations");
    assert_float_equal(none, 0, 1e-12);
    assert_float_equal(one, 2.0 * 1 / (1 + 1), 1e-9); /* 1 relation */
    assert_true(part(f, rel, "relations") > one);
}

/* A prompt listing n quantities, dense enough to count fully. */
static const char *quantities(int n)
{
    static char buf[256];
    size_t k = (size_t)snprintf(buf, sizeof buf, "Ann has");
    for (int i = 0; i < n; i++)
        k += (size_t)snprintf(buf + k, sizeof buf - k, " %d", 11 + i);
    snprintf(buf + k, sizeof buf - k, ".");
    return buf;
}

/* The quantity and operation evidence keeps growing where a word problem
   lives (3 to 8 quantities): every grade-school problem has several, so
   a signal that is nearly flat there cannot rank them. */
static void test_quantities_do_not_saturate(void **state)
{
    struct fx *f = *state;
    make_ok(f);
    double q[10];
    for (int n = 1; n < 10; n++) {
        q[n] = part(f, quantities(n), "numbers");
        if (n > 1 && !(q[n] > q[n - 1]))
            fail_msg("%d quantities: %.4f not above %.4f", n, q[n],
                     q[n - 1]);
    }
    assert_float_equal(q[1], 0, 1e-12); /* one quantity is no step */
    /* The step from 4 to 5 quantities is worth at least 0.6 of the step
       from 2 to 3 (sat(x, 3) of the first attempt gave 0.48), and 8
       quantities are worth at least 1.5 times 4 (it gave 1.4). */
    assert_true(q[5] - q[4] >= 0.6 * (q[3] - q[2]));
    assert_true(q[8] >= 1.5 * q[4]);
    /* The same for operations, and for the whole score. */
    static const char *const ops[] = {
        "Ann has 3 and 4.",
        "Ann has 3 and 4 each.",
        "Ann has 3 and 4 each, per day.",
        "Ann has 3 and 4 each, per day, twice.",
        "Ann has 3 and 4 each, per day, twice, in total.",
        "Ann has 3 and 4 each, per day, twice, in total, and the rest.",
    };
    double prev = -1;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        assert_int_equal(feature(f, ops[i], "operations"), (int)i);
        double o = part(f, ops[i], "operations");
        if (!(o > prev))
            fail_msg("%zu operations: %.4f not above %.4f", i, o, prev);
        prev = o;
    }
    /* Word problems of one step score below those of four to six. */
    static const char *const easy[] = {
        "Tom has 8 marbles. He finds 5 more. How many marbles does Tom "
        "have now?",
        "A pencil costs $2. How much do 7 pencils cost?",
    };
    static const char *const hard[] = {
        "Lena buys 3 packs of stickers with 24 stickers each. She gives "
        "1/4 of the stickers to her brother, then uses 10 stickers on a "
        "poster. She splits the remaining stickers equally among her 5 "
        "friends. How many stickers does each friend get?",
        "A tank holds 120 liters of water. It leaks 3 liters every 15 "
        "minutes, and a pump adds 10 liters every hour. If the tank "
        "starts full and the pump runs for 3 hours, how many liters are "
        "in the tank after 3 hours?",
    };
    for (size_t i = 0; i < 2; i++)
        for (size_t k = 0; k < 2; k++)
            assert_true(score_of(f, easy[i]) + 0.5 < score_of(f, hard[k]));
}

/* A huge paste: its length counts whole, features only in the first
   64 KiB (the scan is bounded). */
static void test_long_prompt_scan_bound(void **state)
{
    struct fx *f = *state;
    size_t n = 100000;
    char *big = malloc(n + 1);
    assert_non_null(big);
    for (size_t i = 0; i < n; i += 2) {
        big[i] = '?';
        big[i + 1] = ' ';
    }
    big[n] = '\0';
    make_ok(f);
    assert_int_equal(feature(f, big, "chars"), 100000);
    assert_int_equal(feature(f, big, "questions"), 65536 / 2);
    free(big);
}

static void test_score_grows_with_evidence(void **state)
{
    struct fx *f = *state;
    make_ok(f);
    static const char *const ladder[] = {
        "Tell me about rivers.",
        "Tell me about rivers. Why do they bend?",
        "Tell me about rivers. Why do they bend? How fast do they move?",
        "Tell me about rivers. Why do they bend? How fast do they move? "
        "Explain step by step.",
        "Tell me about rivers. Why do they bend? How fast do they move? "
        "Explain step by step. Compute the flow for 3 rivers of 40, 55 "
        "and 70 m3 per second.",
        "Tell me about rivers. Why do they bend? How fast do they move? "
        "Explain step by step. Compute the flow for 3 rivers of 40, 55 "
        "and 70 m3 per second. Write a Python function for it.\n"
        "```python\ndef flow(xs):\n    return sum(xs)\n```",
    };
    double prev = score_of(f, ladder[0]);
    for (size_t i = 1; i < sizeof ladder / sizeof ladder[0]; i++) {
        double s = score_of(f, ladder[i]);
        if (!(s > prev))
            fail_msg("step %zu: score %.4f not above %.4f", i, s, prev);
        prev = s;
    }
    /* Easy wording lowers it; earlier turns raise it. */
    assert_true(score_of(f, "Rewrite this: rivers bend.") <
                score_of(f, "About this: rivers bend."));
    ask(f, "Rivers bend.", NULL);
    cJSON *j = classify(f);
    double alone = cJSON_GetObjectItemCaseSensitive(j, "score")->valuedouble;
    cJSON_Delete(j);
    f->msgs[1] = f->msgs[0];
    f->msgs[0].role = LR_ROLE_ASSISTANT;
    f->chat.n_messages = 2;
    j = classify(f);
    assert_true(cJSON_GetObjectItemCaseSensitive(j, "score")->valuedouble >
                alone);
    cJSON_Delete(j);
    /* The defaults put the extremes in the outer tiers. */
    ask(f, EASY, NULL);
    assert_string_equal(route(f), "simple");
    ask(f, HARD, NULL);
    assert_string_equal(route(f), "complex");
}

static void test_cutoffs(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *bias, *tier;
    } cases[] = {
        {"-5", "simple"}, {"0.5", "simple"}, {"0.51", "medium"},
        {"1.5", "medium"}, {"1.51", "complex"}, {"99", "complex"},
    };
    fake_section_set(f->p.sec, "medium_above", "0.5");
    fake_section_set(f->p.sec, "complex_above", "1.5");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        flat_score(f, cases[i].bias);
        make_ok(f);
        ask(f, HARD, NULL);
        if (strcmp(route(f), cases[i].tier) != 0)
            fail_msg("bias %s: tier %s, want %s", cases[i].bias,
                     route(f), cases[i].tier);
        cJSON *j = classify(f);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "tier")
                                ->valuestring, cases[i].tier);
        assert_float_equal(cJSON_GetObjectItemCaseSensitive(j, "score")
                               ->valuedouble, atof(cases[i].bias), 1e-9);
        cJSON_Delete(j);
        f->p.desc->destroy(f->p.inst);
        f->p.inst = NULL;
    }
}

/* Route a prompt forced to tier t (by bias) and return the candidates. */
static const char *cands_for(struct fx *f, const char *tier)
{
    ask(f, "anything", NULL);
    attr(f, "tier_want", tier);
    assert_string_equal(route(f), tier);
    return cands(f);
}

static void test_default_fallbacks(void **state)
{
    struct fx *f = *state;
    make_ok(f);
    assert_string_equal(cands_for(f, "simple"), "s1,s2");
    assert_string_equal(cands_for(f, "medium"), "m1,s1,s2");
    assert_string_equal(cands_for(f, "complex"), "c1,c2,m1,s1,s2");
    assert_float_equal(fake_host_counter(f->p.fh, "complexity_tier", "simple"),
                       1, 0);
    assert_float_equal(fake_host_counter(f->p.fh, "complexity_tier",
                                         "complex"), 1, 0);
}

static void test_configured_fallbacks(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "medium", "m1, s1");
    fake_section_set(f->p.sec, "fallback_simple", "m1");
    fake_section_set(f->p.sec, "fallback_medium", "");
    fake_section_set(f->p.sec, "fallback_complex", "x, c1, s2");
    make_ok(f);
    assert_string_equal(cands_for(f, "simple"), "s1,s2,m1");
    assert_string_equal(cands_for(f, "medium"), "m1,s1"); /* none */
    /* Repeats are tried once, at their first place. */
    assert_string_equal(cands_for(f, "complex"), "c1,c2,x,s2");
}

static void test_tier_want(void **state)
{
    struct fx *f = *state;
    make_ok(f);
    ask(f, HARD, NULL);
    attr(f, "tier_want", "simple");
    assert_string_equal(route(f), "simple");
    assert_false(fake_host_log_contains(f->p.fh, "WARN"));
    /* A bad value is ignored (the score decides), with one warning. */
    ask(f, HARD, NULL);
    attr(f, "tier_want", "gold");
    assert_string_equal(route(f), "complex");
    ask(f, HARD, NULL);
    attr(f, "tier_want", "platinum");
    assert_string_equal(route(f), "complex");
    assert_true(fake_host_log_contains(f->p.fh, "WARN: request attribute "
                                       "tier_want = 'gold' is not a tier"));
    assert_false(fake_host_log_contains(f->p.fh, "platinum"));
}

static void test_tier_cap(void **state)
{
    struct fx *f = *state;
    make_ok(f);
    ask(f, HARD, NULL);
    attr(f, "tier_cap", "medium");
    assert_string_equal(route(f), "medium");
    assert_string_equal(cands(f), "m1,s1,s2");
    /* A cap above the tier changes nothing; it also caps tier_want. */
    ask(f, EASY, NULL);
    attr(f, "tier_cap", "complex");
    assert_string_equal(route(f), "simple");
    ask(f, EASY, NULL);
    attr(f, "tier_want", "complex");
    attr(f, "tier_cap", "simple");
    assert_string_equal(route(f), "simple");
    assert_string_equal(cands(f), "s1,s2");
}

static void test_conversation_sticks(void **state)
{
    struct fx *f = *state;
    fake_section_set(f->p.sec, "conversation_ttl_s", "60");
    make_ok(f);
    ask(f, EASY, "conv-1");
    assert_string_equal(route(f), "simple");
    ask(f, HARD, "conv-1");
    assert_string_equal(route(f), "complex");
    /* Easy turns of that conversation stay complex; others do not. */
    ask(f, EASY, "conv-1");
    assert_string_equal(route(f), "complex");
    assert_string_equal(cands(f), "c1,c2,m1,s1,s2");
    ask(f, EASY, "conv-2");
    assert_string_equal(route(f), "simple");
    ask(f, EASY, NULL);
    assert_string_equal(route(f), "simple");
    /* Each turn refreshes the TTL: 50 s + 50 s later it still holds. */
    fake_host_advance(f->p.fh, 50000);
    ask(f, EASY, "conv-1");
    assert_string_equal(route(f), "complex");
    fake_host_advance(f->p.fh, 50000);
    ask(f, EASY, "conv-1");
    assert_string_equal(route(f), "complex");
    /* Idle past the TTL: forgotten. */
    fake_host_advance(f->p.fh, 61000);
    ask(f, EASY, "conv-1");
    assert_string_equal(route(f), "simple");
}

static void test_conversation_cap_and_want(void **state)
{
    struct fx *f = *state;
    make_ok(f);
    ask(f, HARD, "c");
    assert_string_equal(route(f), "complex");
    /* The cap beats stickiness but does not lower the stored tier. */
    ask(f, EASY, "c");
    attr(f, "tier_cap", "medium");
    assert_string_equal(route(f), "medium");
    ask(f, EASY, "c");
    assert_string_equal(route(f), "complex");
    /* An explicit tier_want wins over the conversation's tier... */
    ask(f, EASY, "c");
    attr(f, "tier_want", "simple");
    assert_string_equal(route(f), "simple");
    /* ...and never lowers it. */
    ask(f, EASY, "c");
    assert_string_equal(route(f), "complex");
    /* A tier_want above raises it. */
    ask(f, EASY, "d");
    attr(f, "tier_want", "medium");
    assert_string_equal(route(f), "medium");
    ask(f, EASY, "d");
    assert_string_equal(route(f), "medium");
}

static void test_conversation_raise_only_shared(void **state)
{
    struct fx *f = *state;
    make_ok(f);
    /* Another process (instance) on the same store sees the tier. */
    void *other = NULL;
    char err[128];
    assert_int_equal(f->p.desc->create(f->p.sec, f->p.h, &other, err,
                                       sizeof err), LR_OK);
    ask(f, HARD, "shared");
    assert_string_equal(route(f), "complex");
    void *keep = f->p.inst;
    f->p.inst = other;
    ask(f, EASY, "shared");
    assert_string_equal(route(f), "complex");
    f->p.inst = keep;
    f->p.desc->destroy(other);
    /* A stored garbage value is replaced, a higher one kept. */
    static const char junk[] = "gold";
    assert_int_equal(f->p.h->store_set(f->p.h, "conv/g", junk, 4, 0), LR_OK);
    ask(f, EASY, "g");
    assert_string_equal(route(f), "simple");
    ask(f, HARD, "g");
    assert_string_equal(route(f), "complex");
    /* A long or odd id works too (stored under a hash). */
    char id[300];
    memset(id, 'z', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    id[5] = ' ';
    ask(f, HARD, id);
    assert_string_equal(route(f), "complex");
    ask(f, EASY, id);
    assert_string_equal(route(f), "complex");
}

static void test_classify_json_no_side_effects(void **state)
{
    struct fx *f = *state;
    make_ok(f);
    ask(f, HARD, "q");
    cJSON *j = classify(f);
    static const char *const top[] = {"tier", "score", "features", "parts",
                                      "reason"};
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
        assert_non_null(cJSON_GetObjectItemCaseSensitive(j, top[i]));
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "tier")
                            ->valuestring, "complex");
    assert_null(cJSON_GetObjectItemCaseSensitive(j, "conversation_tier"));
    /* parts add up to the score (bias 0) */
    double sum = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(j, "parts"))
        sum += p->valuedouble;
    assert_float_equal(sum, cJSON_GetObjectItemCaseSensitive(j, "score")
                                ->valuedouble, 1e-3);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(
                         j, "features")), 17);
    cJSON_Delete(j);
    /* Nothing stored, counted or set by classify. */
    ask(f, EASY, "q");
    assert_string_equal(route(f), "simple");
    assert_float_equal(fake_host_counter(f->p.fh, "complexity_tier",
                                         "complex"), 0, 0);
    /* After a routed complex turn, classify reports the conversation. */
    ask(f, HARD, "q");
    route(f);
    ask(f, EASY, "q");
    j = classify(f);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "tier")
                            ->valuestring, "complex");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "reason")
                            ->valuestring, "conversation");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(
                            j, "conversation_tier")->valuestring, "complex");
    cJSON_Delete(j);
}

/* classify()'s JSON under an application's comma-decimal LC_NUMERIC:
   "score":0.2500, never 0,2500. */
static void test_classify_json_comma_locale(void **state)
{
    struct fx *f = *state;
    struct lr_buf b = {0};
    flat_score(f, "0.25");
    make_ok(f);
    ask(f, EASY, NULL);
    COMMA_LOCALE_OR_SKIP();
    int rc = f->p.ops->classify(f->p.inst, &f->req, &b);
    comma_locale_reset();
    assert_int_equal(rc, LR_OK);
    if (!strstr(b.data, "\"score\":0.2500,"))
        fail_msg("classify JSON: %s", b.data);
    cJSON *j = cJSON_Parse(b.data);
    assert_non_null(j);
    cJSON_Delete(j);
    fake_buf_free(&b);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_descriptor),
        T(test_config_errors),
        T(test_features_code_and_trace),
        T(test_features_math_questions_turns),
        T(test_features_operations_units),
        T(test_features_relations),
        T(test_quantities_do_not_saturate),
        T(test_long_prompt_scan_bound),
        T(test_score_grows_with_evidence),
        T(test_cutoffs),
        T(test_default_fallbacks),
        T(test_configured_fallbacks),
        T(test_tier_want),
        T(test_tier_cap),
        T(test_conversation_sticks),
        T(test_conversation_cap_and_want),
        T(test_conversation_raise_only_shared),
        T(test_classify_json_no_side_effects),
        T(test_classify_json_comma_locale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
