/*
 * policy_fixture.h - one policy plugin on a fake host: what every policy
 * test's per-test setup needs, and the few ways of driving its hooks that
 * the tests share.
 *
 * The policy is the real .so, loaded with fake_plugin_open().  The host
 * starts at now_ms POLICY_FX_NOW_MS, wall_ms POLICY_FX_WALL_MS (a test
 * that wants another wall time calls fake_host_set_time()), with a real
 * memory store when asked.  The instance is created by the test, once
 * its section holds the keys under test, and destroyed by
 * policy_fx_close().
 *
 * The policy_fx_create_* and hook helpers check with cmocka, so call them
 * from a test body only.
 */
#ifndef LR_TESTS_POLICY_FIXTURE_H
#define LR_TESTS_POLICY_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "llmroute_plugin.h"

struct fake_host;

#define POLICY_FX_NOW_MS INT64_C(1000000)
#define POLICY_FX_WALL_MS INT64_C(1700000000000)
#define POLICY_FX_MAX_TARGETS 8

/* policy_fx_open() flags. */
#define POLICY_FX_STORE 1u    /* back store_* with a real memory store */

struct policy_fx {
    void *handle;                     /* of the .so */
    const struct lr_plugin_desc *desc;
    const struct lr_policy_ops *ops;
    struct fake_host *fh;
    const struct lr_host *h;          /* fake_host_table(fh) */
    struct lr_section *sec;           /* [policy ...], keys declared */
    struct lr_section *targets[POLICY_FX_MAX_TARGETS];
    size_t n_targets;
    void *inst;                       /* NULL until created */
    /* what the last policy_fx_before() returned beside the verdict */
    int64_t wait;
    char reason[256];
};

/*
 * Zero *p, load build/plugins/<plugin>.so and make a host and a section
 * called section holding the policy's key table.  0, or -1 with what was
 * made so far left for policy_fx_close().
 */
int policy_fx_open(struct policy_fx *p, const char *plugin,
                   const char *section, unsigned flags);
/* Destroy the instance (if any), free sections and host, unload. */
void policy_fx_close(struct policy_fx *p);

/*
 * cmocka setup and teardown for a test whose state is a struct of size
 * bytes whose first member is a struct policy_fx: calloc it and
 * policy_fx_open() its fixture into *state (0), or free all and -1.
 */
int policy_fx_setup(void **state, size_t size, const char *plugin,
                    const char *section, unsigned flags);
/* policy_fx_close() and free the state of policy_fx_setup(); 0. */
int policy_fx_teardown(void **state);

/* A [target name] section holding the policy's target keys, known to the
   host's target_section(); owned by p.  NULL when out of room/memory. */
struct lr_section *policy_fx_target(struct policy_fx *p, const char *name);

/* --- Creating the instance ------------------------------------------- */

/* create() on p->sec into p->inst; its status, err filled. */
int policy_fx_create(struct policy_fx *p, char *err, size_t errlen);
/* create() must succeed. */
void policy_fx_create_ok(struct policy_fx *p);
/* create() must fail with LR_E_CONFIG, no instance and an error starting
   with prefix. */
void policy_fx_create_fails(struct policy_fx *p, const char *prefix);

/* One bad value and the start of the error it must give. */
struct policy_fx_bad {
    const char *key;
    const char *value;
    const char *prefix;
};
/* For each bad[i]: set it, policy_fx_create_fails(), unset it. */
void policy_fx_check_bad(struct policy_fx *p, const struct policy_fx_bad *bad,
                         size_t n);

/* --- Driving the hooks ------------------------------------------------ */

/* on_request(req) must return LR_OK and set a request state: returned. */
void *policy_fx_begin(struct policy_fx *p, const struct lr_policy_req *req);
/* An attempt on target as the core fills it before anything is known:
   zero, but -1 for every "unknown" field. */
struct lr_policy_attempt policy_fx_attempt(const char *target);
/* before_attempt(); p->wait and p->reason hold what it said. */
enum lr_verdict policy_fx_before(struct policy_fx *p,
                                 const struct lr_policy_req *req, void *rs,
                                 const struct lr_policy_attempt *a);
/* after_attempt() must leave the decision to the core. */
void policy_fx_after_default(struct policy_fx *p,
                             const struct lr_policy_req *req, void *rs,
                             const struct lr_policy_attempt *a);

#endif
