/*
 * test_plugin_load.c - the loader refuses every kind of broken plugin
 * with a message naming the file and the reason, never crashing, and
 * accepts good ones; lr_plugin_scan() reports both.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "llmroute.h"
#include "plugin_load.h"
#include "testenv.h"

static void expect_refusal(const char *file, enum lr_plugin_kind kind,
                           const char *want)
{
    struct tenv e;
    assert_int_equal(tenv_init(&e), 0);
    char path[512], err[1024] = "";
    snprintf(path, sizeof path, "%s/%s", e.dir, file);
    struct lr_plugin *p = NULL;
    assert_int_not_equal(lr_plugin_open(path, kind, NULL, &p, err,
                                        sizeof err), LR_OK);
    assert_null(p);
    if (!strstr(err, path) || !strstr(err, want))
        fail_msg("%s: expected '%s' in '%s'", file, want, err);
    tenv_free(&e);
}

static void refuses_broken(void **s)
{
    (void)s;
    expect_refusal("bad_major.so", 0, "plugin ABI 2.1, core speaks 1.x");
    expect_refusal("bad_minor.so", 0, "plugin needs ABI 1.99, core speaks "
                   "1.2 (upgrade llmroute)");
    expect_refusal("bad_size.so", 0, "plugin descriptor is 8 bytes");
    expect_refusal("no_entry.so", 0, "no lr_plugin_entry symbol");
    expect_refusal("null_desc.so", 0, "lr_plugin_entry returned NULL");
    expect_refusal("null_op.so", 0, "provider 'null_op' lacks "
                   "parse_response");
    expect_refusal("missing_symbol.so", 0, "cannot load");
    expect_refusal("missing_symbol.so", 0, "lr_symbol_that_does_not_exist");
    expect_refusal("testpol.so", LR_PLUGIN_PROVIDER, "plugin 'testpol' is "
                   "a policy, expected a provider");
    expect_refusal("nothing-here.so", 0, "cannot load");
}

static void refuses_non_elf(void **s)
{
    (void)s;
    struct tenv e;
    assert_int_equal(tenv_init(&e), 0);
    const char *path = tenv_write(&e, "text.so", "not an ELF file\n");
    char err[1024];
    struct lr_plugin *p = NULL;
    assert_int_equal(lr_plugin_open(path, 0, NULL, &p, err, sizeof err),
                     LR_E_PLUGIN);
    assert_non_null(strstr(err, "text.so: cannot load"));
    tenv_free(&e);
}

static void accepts_good(void **s)
{
    (void)s;
    struct tenv e;
    assert_int_equal(tenv_init(&e), 0);
    char err[1024];
    struct lr_plugin *p = NULL;
    assert_int_equal(lr_plugin_open(tenv_file(&e, "openai.so"),
                                    LR_PLUGIN_PROVIDER, "openai", &p, err,
                                    sizeof err), LR_OK);
    assert_string_equal(p->desc->name, "openai");
    lr_plugin_close(p);
    assert_int_equal(lr_plugin_open(tenv_file(&e, "openai.so"), 0, "other",
                                    &p, err, sizeof err), LR_E_PLUGIN);
    assert_non_null(strstr(err, "calls itself 'openai', expected 'other'"));
    tenv_free(&e);
}

/* A 1.0 policy still loads under a 1.2 core, and the core sees none of
   the 1.1 fields (whatever bytes follow its ops struct). */
static void accepts_older_minor(void **s)
{
    (void)s;
    struct tenv e;
    assert_int_equal(tenv_init(&e), 0);
    char path[512], err[1024] = "";
    snprintf(path, sizeof path, "%s/old_minor.so", e.dir);
    struct lr_plugin *p = NULL;
    assert_int_equal(lr_plugin_open(path, LR_PLUGIN_POLICY, "old_minor", &p,
                                    err, sizeof err), LR_OK);
    assert_non_null(p->policy_ops.on_request);
    assert_null(p->policy_ops.classify);
    assert_null(p->policy_ops.target_keys);
    assert_int_equal(p->policy_ops.n_target_keys, 0);
    lr_plugin_close(p);
    tenv_free(&e);
}

/* A 1.1 policy (built before gauge_set) loads under a 1.2 core with its
   1.1 fields. */
static void accepts_minor_1(void **s)
{
    (void)s;
    struct tenv e;
    assert_int_equal(tenv_init(&e), 0);
    char path[512], err[1024] = "";
    snprintf(path, sizeof path, "%s/minor1.so", e.dir);
    struct lr_plugin *p = NULL;
    assert_int_equal(lr_plugin_open(path, LR_PLUGIN_POLICY, "minor1", &p,
                                    err, sizeof err), LR_OK);
    assert_int_equal(p->desc->abi_minor, 1);
    assert_non_null(p->policy_ops.classify);
    assert_int_equal(p->policy_ops.n_target_keys, 1);
    assert_string_equal(p->policy_ops.target_keys[0].key, "minor1_weight");
    lr_plugin_close(p);
    tenv_free(&e);
}

struct seen {
    int good, broken;
    char names[2048];
};

static void collect(const struct lr_plugin_info *info, void *user)
{
    struct seen *s = user;
    if (info->error) {
        s->broken++;
        assert_null(info->name);
    }
    else {
        s->good++;
        strncat(s->names, info->name, sizeof s->names - strlen(s->names) - 2);
        strcat(s->names, " ");
        assert_int_equal(info->abi_major, LR_PLUGIN_ABI_MAJOR);
    }
}

static void scan_reports_all(void **s)
{
    (void)s;
    struct tenv e;
    assert_int_equal(tenv_init(&e), 0);
    tenv_write(&e, "zz-text.so", "garbage");
    struct seen seen = {0};
    char err[256];
    int broken = lr_plugin_scan(e.dir, collect, &seen, err, sizeof err);
    assert_int_equal(broken, seen.broken);
    /* 7 broken fixtures + the text file */
    assert_true(seen.broken >= 8);
    assert_non_null(strstr(seen.names, "openai "));
    assert_non_null(strstr(seen.names, "testpol "));
    assert_int_equal(lr_plugin_scan("/nonexistent-dir", collect, &seen, err,
                                    sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent-dir: cannot read folder"));
    tenv_free(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(refuses_broken),
        cmocka_unit_test(refuses_non_elf),
        cmocka_unit_test(accepts_good),
        cmocka_unit_test(accepts_older_minor),
        cmocka_unit_test(accepts_minor_1),
        cmocka_unit_test(scan_reports_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
