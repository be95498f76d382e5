/*
 * fake_host.h - a fake struct lr_host for plugin unit tests.
 *
 * Plugins (providers and policies) are tested as the real .so files the
 * core loads, called through their descriptor with this host instead of
 * the core's.  What the fake does, per host function:
 *   log            records "LEVEL: line\n" into a buffer the test reads
 *                  (fake_host_log(), fake_host_log_contains()); echoed to
 *                  stderr as well when FAKE_HOST_VERBOSE is set.
 *   now_ms/wall_ms return the values set with fake_host_set_time() and
 *                  move only through fake_host_advance().
 *   cfg_*          read a tiny in-memory section (fake_section_*): the raw
 *                  text the test set, parsed by the getter, else the
 *                  default from an optional key table, else
 *                  LR_E_NOT_FOUND.  A value that does not parse as the
 *                  asked type gives LR_E_CONFIG (the real core rejects it
 *                  at load, before any plugin sees it).  A NULL section
 *                  behaves as an empty one.
 *   buf_*          the core's own buffer functions (core/buf.c).
 *   store_*        INERT unless fake_host_use_memory_store() was called
 *                  (then a real memory store whose TTLs follow the fake
 *                  wall time, unnamespaced): get finds nothing
 *                  (LR_E_NOT_FOUND), set/del
 *                  succeed and keep nothing, incr answers delta as if the
 *                  key were new, cas succeeds only for expect == NULL.
 *                  Policy tests that need a real store should build on
 *                  this fake rather than rely on it keeping state.
 *   counter_add    sums per (name, label); read with fake_host_counter().
 *   gauge_set      (ABI 1.2) keeps the last value per (name, label); read
 *                  with fake_host_gauge().
 *   parse_*        the core's own parsers (core/timeparse.c).
 *   cand_*         a plain list of target names (fake_cands_*).
 *   target_section the sections added with fake_host_add_target().
 *   req_*          (ABI 1.1) per-request attributes, rejections and
 *                  answers, kept per struct lr_policy_req pointer until
 *                  fake_req_forget(); the test reads them back with
 *                  fake_req_rejected()/fake_req_responded() and sets what
 *                  req_result returns with fake_req_set_result().
 *
 * Also here, because every provider test needs them: initialise/free the
 * core-owned buffers of a result or request, and dlopen a built plugin
 * from $LLMROUTE_TEST_BUILD/plugins (default "build").
 *
 * Nothing here is thread-safe; tests call plugins from one thread.
 */
#ifndef LR_TESTS_FAKE_HOST_H
#define LR_TESTS_FAKE_HOST_H

#include "llmroute_plugin.h"

#include <stddef.h>
#include <stdint.h>

struct fake_host;

/* A new host with empty log, time 0/0 and no counters; NULL on OOM. */
struct fake_host *fake_host_new(void);
void fake_host_free(struct fake_host *fh);
/* The table to hand a plugin; valid until fake_host_free(). */
const struct lr_host *fake_host_table(struct fake_host *fh);

/* Back store_* with a real memory store on this host's fake clock (for
   policy tests that need state); 0 or -1.  The store is freed with the
   host. */
struct lr_store;
int fake_host_use_memory_store(struct fake_host *fh);
struct lr_store *fake_host_store(struct fake_host *fh);

void fake_host_set_time(struct fake_host *fh, int64_t now_ms,
                        int64_t wall_ms);
/* Moves both clocks forward by ms. */
void fake_host_advance(struct fake_host *fh, int64_t ms);

/* Every line logged so far ("" when none); owned by the host. */
const char *fake_host_log(const struct fake_host *fh);
int fake_host_log_contains(const struct fake_host *fh, const char *needle);
void fake_host_log_clear(struct fake_host *fh);

/* Sum of counter_add(name, label) calls; label NULL matches NULL only. */
double fake_host_counter(const struct fake_host *fh, const char *name,
                         const char *label);

/* The last gauge_set(name, label) value in *out and 1, or 0 when that
   gauge was never set; label NULL matches NULL only. */
int fake_host_gauge(const struct fake_host *fh, const char *name,
                    const char *label, double *out);

/* --- Targets and requests (ABI 1.1) ------------------------------------ */

/* host->target_section(name) finds s by its section name (borrowed). */
void fake_host_add_target(struct fake_host *fh, const struct lr_section *s);
/* The status a hook passed to req_reject (LR_OK: none), its message and
   retry hint. */
int fake_req_rejected(struct fake_host *fh, const struct lr_policy_req *req,
                      const char **msg, int64_t *hint);
/* The target passed to req_respond (NULL: none) and the answer's text. */
const char *fake_req_responded(struct fake_host *fh,
                               const struct lr_policy_req *req,
                               const char **text);
/* What host->req_result(req) returns (borrowed; NULL: a failure). */
void fake_req_set_result(struct fake_host *fh,
                         const struct lr_policy_req *req,
                         const struct lr_result *res);
/* Drop everything recorded about req (do it before reusing the struct). */
void fake_req_forget(struct fake_host *fh, const struct lr_policy_req *req);

/* --- Sections ------------------------------------------------------- */

/* An empty section called name; values are copied. */
struct lr_section *fake_section_new(const char *name);
void fake_section_free(struct lr_section *s);
/* Set (or replace) key's raw INI text; value NULL removes it. */
void fake_section_set(struct lr_section *s, const char *key,
                      const char *value);
/* Defaults come from keys[] (borrowed: keep it alive), as the core takes
   them from a plugin's key table. */
void fake_section_set_keys(struct lr_section *s,
                           const struct lr_cfg_key *keys, size_t n);

/* --- Candidates ----------------------------------------------------- */

/* A list holding copies of names[0..n). */
struct lr_candidates *fake_cands_new(const char *const *names, size_t n);
void fake_cands_free(struct lr_candidates *c);

/* --- Core-owned buffers ---------------------------------------------- */

/* All zero, buffers empty, except the rate-limit readings (-1) as the
   core sets them; a provider must itself set the other -1 "unknown"
   values. */
void fake_result_init(struct lr_result *r);
void fake_result_free(struct lr_result *r);
void fake_request_init(struct lr_http_request *rq);
void fake_request_free(struct lr_http_request *rq);
void fake_buf_free(struct lr_buf *b);

/* --- Loading plugins ------------------------------------------------ */

/*
 * dlopen $LLMROUTE_TEST_BUILD/plugins/<name>.so (RTLD_NOW|RTLD_LOCAL)
 * and return its descriptor, with *handle for fake_plugin_close().  NULL
 * (and a line on stderr) when it cannot be loaded.
 */
const struct lr_plugin_desc *fake_plugin_open(const char *name,
                                              void **handle);
void fake_plugin_close(void *handle);

/* --- Test data -------------------------------------------------------- */

/*
 * Whole file tests/data/<rel> (or $LLMROUTE_TEST_DATA/<rel>), malloc'd
 * and NUL-terminated, *len set when len is non-NULL; NULL if unreadable.
 */
char *fake_read_file(const char *rel, size_t *len);

#endif
