/*
 * policy_fixture.c - policy instances on a fake host for tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "policy_fixture.h"
#include "fake_host.h"

int policy_fx_open(struct policy_fx *p, const char *plugin,
                   const char *section, unsigned flags)
{
    memset(p, 0, sizeof *p);
    p->desc = fake_plugin_open(plugin, &p->handle);
    if (!p->desc)
        return -1;
    p->ops = p->desc->ops;
    p->fh = fake_host_new();
    p->sec = fake_section_new(section);
    if (!p->fh || !p->sec)
        return -1;
    if ((flags & POLICY_FX_STORE) && fake_host_use_memory_store(p->fh) != 0)
        return -1;
    p->h = fake_host_table(p->fh);
    fake_host_set_time(p->fh, POLICY_FX_NOW_MS, POLICY_FX_WALL_MS);
    fake_section_set_keys(p->sec, p->ops->keys, p->ops->n_keys);
    return 0;
}

void policy_fx_close(struct policy_fx *p)
{
    if (p->inst)
        p->desc->destroy(p->inst);
    p->inst = NULL;
    fake_section_free(p->sec);
    for (size_t i = 0; i < p->n_targets; i++)
        fake_section_free(p->targets[i]);
    fake_host_free(p->fh);
    fake_plugin_close(p->handle);
    memset(p, 0, sizeof *p);
}

int policy_fx_setup(void **state, size_t size, const char *plugin,
                    const char *section, unsigned flags)
{
    struct policy_fx *p = calloc(1, size);
    *state = p;
    if (!p)
        return -1;
    if (policy_fx_open(p, plugin, section, flags) != 0) {
        policy_fx_teardown(state);
        return -1;
    }
    return 0;
}

int policy_fx_teardown(void **state)
{
    struct policy_fx *p = *state;
    if (p)
        policy_fx_close(p);
    free(p);
    *state = NULL;
    return 0;
}

struct lr_section *policy_fx_target(struct policy_fx *p, const char *name)
{
    struct lr_section *s;
    if (p->n_targets == POLICY_FX_MAX_TARGETS)
        return NULL;
    s = fake_section_new(name);
    if (!s)
        return NULL;
    fake_section_set_keys(s, p->ops->target_keys, p->ops->n_target_keys);
    fake_host_add_target(p->fh, s);
    p->targets[p->n_targets++] = s;
    return s;
}

int policy_fx_create(struct policy_fx *p, char *err, size_t errlen)
{
    err[0] = '\0';
    return p->desc->create(p->sec, p->h, &p->inst, err, errlen);
}

void policy_fx_create_ok(struct policy_fx *p)
{
    char err[256];
    if (policy_fx_create(p, err, sizeof err) != LR_OK)
        fail_msg("create failed: %s", err);
}

void policy_fx_create_fails(struct policy_fx *p, const char *prefix)
{
    char err[256];
    assert_int_equal(policy_fx_create(p, err, sizeof err), LR_E_CONFIG);
    assert_null(p->inst);
    if (strncmp(err, prefix, strlen(prefix)) != 0)
        fail_msg("error '%s' does not start with '%s'", err, prefix);
}

void policy_fx_check_bad(struct policy_fx *p, const struct policy_fx_bad *bad,
                         size_t n)
{
    for (size_t i = 0; i < n; i++) {
        fake_section_set(p->sec, bad[i].key, bad[i].value);
        policy_fx_create_fails(p, bad[i].prefix);
        fake_section_set(p->sec, bad[i].key, NULL);
    }
}

void *policy_fx_begin(struct policy_fx *p, const struct lr_policy_req *req)
{
    void *rs = NULL;
    char msg[128];
    int64_t hint = -1;
    assert_int_equal(p->ops->on_request(p->inst, req, &rs, msg, sizeof msg,
                                        &hint), LR_OK);
    assert_non_null(rs);
    return rs;
}

struct lr_policy_attempt policy_fx_attempt(const char *target)
{
    struct lr_policy_attempt a;
    memset(&a, 0, sizeof a);
    a.target = target;
    a.key_id = "";
    a.retry_after_ms = -1;
    a.should_retry = -1;
    a.prompt_tokens = a.completion_tokens = -1;
    a.rl_remaining_requests = a.rl_remaining_tokens = -1;
    a.rl_reset_requests_ms = a.rl_reset_tokens_ms = -1;
    return a;
}

enum lr_verdict policy_fx_before(struct policy_fx *p,
                                 const struct lr_policy_req *req, void *rs,
                                 const struct lr_policy_attempt *a)
{
    p->wait = 0;
    p->reason[0] = '\0';
    return p->ops->before_attempt(p->inst, req, rs, a, &p->wait, p->reason,
                                  sizeof p->reason);
}

void policy_fx_after_default(struct policy_fx *p,
                             const struct lr_policy_req *req, void *rs,
                             const struct lr_policy_attempt *a)
{
    int64_t delay = 0;
    char why[64] = "";
    assert_int_equal(p->ops->after_attempt(p->inst, req, rs, a, &delay, why,
                                           sizeof why), LR_NEXT_DEFAULT);
}
