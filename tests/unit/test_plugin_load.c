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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli_run.h"
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
                   "1.4 (upgrade llmroute)");
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
    expect_refusal("store_old_minor.so", 0, "store plugin "
                   "'store_old_minor' says ABI 1.3; stores need 1.4");
    expect_refusal("store_no_cas.so", 0, "store 'store_no_cas' lacks cas");
    expect_refusal("sqlite.so", LR_PLUGIN_POLICY, "plugin 'sqlite' is a "
                   "store, expected a policy");
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

/* A 1.0 policy still loads under a 1.4 core, and the core sees none of
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

/* A 1.1 policy (built before gauge_set) loads under a 1.4 core with its
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

/* --- Trust: plugins other users could replace are refused -------------- */

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    FILE *out = fopen(to, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

static void expect_trust(const char *path, const char *want)
{
    char err[1024] = "";
    struct lr_plugin *p = NULL;
    int rc = lr_plugin_open(path, 0, NULL, &p, err, sizeof err);
    if (!want) {
        if (rc != LR_OK)
            fail_msg("%s: expected to load, got: %s", path, err);
        lr_plugin_close(p);
        return;
    }
    assert_int_equal(rc, LR_E_PLUGIN);
    assert_null(p);
    char full[1400];
    snprintf(full, sizeof full, "%s: refused: %s", path, want);
    if (strcmp(err, full) != 0)
        fail_msg("expected '%s', got '%s'", full, err);
}

struct trust_fx {
    struct tenv e;
    char dir[600], so[700], link[700];
};

static void trust_init(struct trust_fx *t)
{
    assert_int_equal(tenv_init(&t->e), 0);
    snprintf(t->dir, sizeof t->dir, "%s/trust", t->e.dir);
    snprintf(t->so, sizeof t->so, "%s/openai.so", t->dir);
    snprintf(t->link, sizeof t->link, "%s/link.so", t->e.dir);
    assert_int_equal(mkdir(t->dir, 0755), 0);
    assert_int_equal(chmod(t->dir, 0755), 0);
    copy_file(tenv_file(&t->e, "openai.so"), t->so);
    assert_int_equal(chmod(t->so, 0755), 0);
}

static void trust_free(struct trust_fx *t)
{
    chmod(t->dir, 0755);
    unlink(t->so);
    unlink(tenv_file(&t->e, "trust/t.ini"));
    rmdir(t->dir);
    tenv_free(&t->e);
}

static void refuses_writable_file(void **s)
{
    (void)s;
    struct trust_fx t;
    trust_init(&t);
    expect_trust(t.so, NULL);
    assert_int_equal(chmod(t.so, 0666), 0);
    expect_trust(t.so, "writable by other users (mode 0666)");
    assert_int_equal(chmod(t.so, 0775), 0);
    expect_trust(t.so, "writable by other users (mode 0775)");
    /* Through a symlink in a trusted folder: the real file and its
       folder count. */
    assert_int_equal(symlink(t.so, t.link), 0);
    expect_trust(t.link, "writable by other users (mode 0775)");
    assert_int_equal(chmod(t.so, 0755), 0);
    expect_trust(t.link, NULL);
    assert_int_equal(chmod(t.dir, 0777), 0);
    char want[1400];
    snprintf(want, sizeof want, "its real folder %s is writable by other "
             "users (mode 0777)", t.dir);
    expect_trust(t.link, want);
    trust_free(&t);
}

static void refuses_writable_folder(void **s)
{
    (void)s;
    struct trust_fx t;
    trust_init(&t);
    char want[1400];
    assert_int_equal(chmod(t.dir, 0777), 0);
    snprintf(want, sizeof want, "its folder %s is writable by other users "
             "(mode 0777)", t.dir);
    expect_trust(t.so, want);
    /* Sticky or not, others may still add a file the INI then names. */
    assert_int_equal(chmod(t.dir, 01777), 0);
    snprintf(want, sizeof want, "its folder %s is writable by other users "
             "(mode 1777)", t.dir);
    expect_trust(t.so, want);
    assert_int_equal(chmod(t.dir, 0775), 0);
    snprintf(want, sizeof want, "its folder %s is writable by other users "
             "(mode 0775)", t.dir);
    expect_trust(t.so, want);
    /* lr_open names the section, then the same reason. */
    const char *ini = tenv_write(&t.e, "trust/t.ini", "[router]\n"
                                 "plugin_dir = .\n[target a]\n"
                                 "provider = openai\nmodel = m\n");
    char err[2048] = "";
    assert_null(lr_open(ini, err, sizeof err));
    if (!strstr(err, "t.ini:4: provider plugin 'openai': ") ||
        !strstr(err, "is writable by other users (mode 0775)"))
        fail_msg("lr_open: %s", err);
    assert_int_equal(chmod(t.dir, 0755), 0);
    expect_trust(t.so, NULL);
    trust_free(&t);
}

/* Owned by someone else (root can make that happen; others skip it). */
static void refuses_foreign_owner(void **s)
{
    (void)s;
    if (geteuid() != 0)
        skip();
    struct trust_fx t;
    trust_init(&t);
    assert_int_equal(chown(t.so, 12345, 12345), 0);
    expect_trust(t.so, "owned by uid 12345, neither root nor this "
                 "process's user");
    assert_int_equal(chown(t.so, 0, 0), 0);
    expect_trust(t.so, NULL);
    trust_free(&t);
}

static void scan_reports_untrusted(void **s)
{
    (void)s;
    struct trust_fx t;
    trust_init(&t);
    assert_int_equal(chmod(t.so, 0666), 0);
    struct seen seen = {0};
    char err[256];
    assert_int_equal(lr_plugin_scan(t.dir, collect, &seen, err, sizeof err),
                     1);
    assert_int_equal(seen.good, 0);
    /* `llmroute plugins --dir` lists it as broken, with the reason. */
    struct cli_run r;
    cli_run(&r, 30000, NULL, "plugins", "--dir", t.dir, NULL);
    assert_int_equal(r.code, 2);
    if (!strstr(r.out, "BROKEN") ||
        !strstr(r.out, "openai.so: refused: writable by other users (mode "
                "0666)"))
        fail_msg("plugins --dir: %s%s", r.out, r.err);
    cli_run_free(&r);
    trust_free(&t);
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
        cmocka_unit_test(refuses_writable_file),
        cmocka_unit_test(refuses_writable_folder),
        cmocka_unit_test(refuses_foreign_owner),
        cmocka_unit_test(scan_reports_untrusted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
