/*
 * test_secrets.c - planted API keys never come out.
 *
 * Recognisable keys are put in the environment for an OpenAI target, an
 * Anthropic target, a Gemini key pool and a gateway client, and the mock
 * upstream is scripted to do the worst a provider does: quote the key
 * back in its 401/400 message, whole, masked ("sk-PLANT****...5b60"), or
 * in an HTML error page.  Then every output is driven and searched for
 * each key and for every 8-character piece of it: lr_open errors, error
 * messages and JSON of responses, metrics, the describe JSON, the
 * request log, the log callback at debug level, and from the built
 * program `check`, `chat --json` (success and failures), `chat` on a
 * terminal-less stderr, `batch` output and summary, `plugins`, and
 * `serve` (error bodies, /metrics, /dashboard, /dashboard/data,
 * /v1/models, its stderr at debug level).  Where a key was echoed the
 * text must now say "[redacted]", so the test fails if the echo never
 * reached the surface it checks.
 *
 * Credentials written into a base_url (userinfo, query values) are
 * masked wherever a base_url is shown: describe JSON, check, load errors
 * and warnings.
 *
 * Also here: tls_verify = false (warned at every load, applied to the
 * transfer, shown by the describe JSON and check), and client keys
 * compared without an early exit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_run.h"
#include "http_client.h"
#include "llmroute.h"
#include "log.h"
#include "mock_upstream.h"
#include "router.h"
#include "secrets.h"
#include "serve_child.h"
#include "testenv.h"
#include "transfer.h"
#include "url.h"

#define K_OA "sk-PLANTED-7f3a9c41d2e85b60"
#define K_AN "sk-ant-PLANTED-b81e4c2a9f03"
#define K_G1 "AIzaSyPLANTEDpool1x5c7e9a0b1d2c3e4f5a6b"
#define K_G2 "AIzaSyPLANTEDpool2x3d6f8b4a9c7e1f0a2b3c"
#define K_CL "sk-client-PLANTED-4e9d2a1c"

static const char *const KEYS[] = {K_OA, K_AN, K_G1, K_G2, K_CL};

#define DEADLINE_MS 30000

/* --- The leak check ------------------------------------------------------ */

/* Fails when text holds any 8-character piece of any planted key. */
static void no_leak(const char *where, const char *text)
{
    assert_non_null(text);
    for (size_t k = 0; k < sizeof KEYS / sizeof KEYS[0]; k++) {
        size_t kl = strlen(KEYS[k]);
        for (size_t j = 0; j + LR_SECRET_MIN <= kl; j++) {
            char w[LR_SECRET_MIN + 1];
            memcpy(w, KEYS[k] + j, LR_SECRET_MIN);
            w[LR_SECRET_MIN] = '\0';
            const char *hit = strstr(text, w);
            if (hit)
                fail_msg("%s leaks \"%s\" of a planted key in: %.200s",
                         where, w, hit > text + 60 ? hit - 60 : text);
        }
    }
}

static void has(const char *where, const char *text, const char *want)
{
    if (!text || !strstr(text, want))
        fail_msg("%s: expected \"%s\" in: %.600s", where, want,
                 text ? text : "(null)");
}

/* --- Log capture --------------------------------------------------------- */

/* The sink is set once (main); the tests switch capture on and off. */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char logs[1 << 16];
static size_t log_len;
static int capturing;

static void capture(int level, const char *line, void *user)
{
    (void)user;
    pthread_mutex_lock(&log_mu);
    if (capturing) {
        int n = snprintf(logs + log_len, sizeof logs - log_len, "%d %s\n",
                         level, line);
        if (n > 0 && (size_t)n < sizeof logs - log_len)
            log_len += (size_t)n;
    }
    else
        fprintf(stderr, "llmroute: %s\n", line);
    pthread_mutex_unlock(&log_mu);
}

static void logs_start(void)
{
    pthread_mutex_lock(&log_mu);
    logs[0] = '\0';
    log_len = 0;
    capturing = 1;
    pthread_mutex_unlock(&log_mu);
    lr_set_log_level(LR_LOG_DEBUG);
}

static void logs_stop(void)
{
    lr_set_log_level(LR_LOG_WARN);
    pthread_mutex_lock(&log_mu);
    capturing = 0;
    pthread_mutex_unlock(&log_mu);
}

/* --- Fixture: a mock that echoes keys, and a config using them ---------- */

#define OA_401 "Incorrect API key provided: " K_OA ". You can find your " \
               "API key at https://platform.openai.com/account/api-keys."

static const char SCRIPT[] =
    "{\"routes\":["
    "{\"name\":\"oa\",\"model\":\"m-401\",\"responses\":[{\"status\":401,"
    "\"error\":{\"message\":\"" OA_401 "\",\"type\":"
    "\"invalid_request_error\",\"code\":\"invalid_api_key\"}}]},"
    "{\"name\":\"mask\",\"model\":\"m-mask\",\"responses\":[{\"status\":401,"
    "\"error\":{\"message\":\"Incorrect API key provided: "
    "sk-PLANT****************5b60.\",\"type\":\"invalid_request_error\","
    "\"code\":\"invalid_api_key\"}}]},"
    "{\"name\":\"raw\",\"model\":\"m-raw\",\"responses\":[{\"status\":502,"
    "\"content_type\":\"text/html\",\"raw\":\"<html>bad gateway for "
    "Bearer " K_OA "</html>\"}]},"
    "{\"name\":\"an\",\"model\":\"a-401\",\"format\":\"anthropic\","
    "\"responses\":[{\"status\":401,\"error\":{\"type\":"
    "\"authentication_error\",\"message\":\"invalid x-api-key " K_AN "\"}}]},"
    "{\"name\":\"gm\",\"model\":\"g-bad\",\"format\":\"gemini\","
    "\"responses\":[{\"status\":400,\"error\":{\"code\":400,\"status\":"
    "\"INVALID_ARGUMENT\",\"message\":\"API key not valid: " K_G1 " "
    K_G2 "\",\"details\":[{\"@type\":"
    "\"type.googleapis.com/google.rpc.ErrorInfo\",\"reason\":"
    "\"API_KEY_INVALID\"}]}}]},"
    "{\"name\":\"ok\",\"model\":\"m-ok\",\"responses\":[{\"echo\":true}]}"
    "]}";

#define OPENAI(name, model)                                               \
    "[target " name "]\nprovider = openai\nmodel = " model "\n"           \
    "base_url = http://127.0.0.1:@PORT@/v1\napi_key_env = LR_SEC_OA\n"

static const char CONF[] =
    "[router]\nplugin_dir = .\ntimeout_ms = 10000\n"
    "request_log = requests.jsonl\n"
    "targets = oa, mask, raw, an, gm, ok\n"
    OPENAI("oa", "m-401") OPENAI("mask", "m-mask") OPENAI("raw", "m-raw")
    "[target an]\nprovider = anthropic\nmodel = a-401\n"
    "base_url = http://127.0.0.1:@PORT@\napi_key_env = LR_SEC_AN\n"
    "[target gm]\nprovider = gemini\nmodel = g-bad\n"
    "base_url = http://127.0.0.1:@PORT@\n"
    "api_keys_env = LR_SEC_G1, LR_SEC_G2\n"
    OPENAI("ok", "m-ok")
    "[gateway]\nshutdown_timeout_ms = 2000\n"
    "[client app]\nkey_env = LR_SEC_CL\n";

struct fx {
    struct tenv env;
    struct mock_upstream *mock;
    char ini[512];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    *state = f;
    setenv("LR_SEC_OA", K_OA, 1);
    setenv("LR_SEC_AN", K_AN, 1);
    setenv("LR_SEC_G1", K_G1, 1);
    setenv("LR_SEC_G2", K_G2, 1);
    setenv("LR_SEC_CL", K_CL, 1);
    if (cli_env_start(&f->env, &f->mock, SCRIPT) != 0)
        return -1;
    /* gw.ini: the name serve_child starts the gateway on. */
    cli_conf(&f->env, "gw.ini", CONF, mock_port(f->mock), f->ini);
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    cli_env_stop(&f->env, f->mock);
    free(f);
    unsetenv("LLMROUTE_LOG");
    return 0;
}

static void run_clean(const char *what, struct cli_run *r)
{
    char where[128];
    snprintf(where, sizeof where, "%s stdout", what);
    no_leak(where, r->out);
    snprintf(where, sizeof where, "%s stderr", what);
    no_leak(where, r->err);
}

/* --- The library ---------------------------------------------------------*/

static struct lr_response *ask(struct lr_router *r, const char *target)
{
    struct lr_request *q = lr_request_new();
    assert_non_null(q);
    assert_int_equal(lr_request_set_prompt(q, "hello"), LR_OK);
    if (target)
        assert_int_equal(lr_request_set_target(q, target), LR_OK);
    struct lr_response *resp = NULL;
    lr_complete(r, q, &resp);
    lr_request_free(q);
    assert_non_null(resp);
    return resp;
}

/* A failed request on one target: message and JSON clean, and the echo
   visibly redacted (mark: what the redaction left there). */
static void failing_target(struct lr_router *r, const char *target,
                           const char *mark)
{
    struct lr_response *resp = ask(r, target);
    assert_int_not_equal(lr_response_status(resp), LR_OK);
    const char *msg = lr_response_error_message(resp);
    no_leak(target, msg);
    has(target, msg, mark);
    char *json = lr_response_json(resp);
    no_leak(target, json);
    lr_free(json);
    lr_response_free(resp);
}

static void library_outputs(void **state)
{
    struct fx *f = *state;
    char err[1024] = "";
    logs_start();
    struct lr_router *r = lr_open(f->ini, err, sizeof err);
    if (!r)
        fail_msg("lr_open: %s", err);
    failing_target(r, "oa", "provided: " LR_SECRET_MARK ". You can");
    failing_target(r, "mask", "provided: ********");
    failing_target(r, "raw", "Bearer " LR_SECRET_MARK "</html>");
    failing_target(r, "an", "invalid x-api-key " LR_SECRET_MARK);
    failing_target(r, "gm", LR_SECRET_MARK " " LR_SECRET_MARK);
    /* Every failing target in turn, then the answer. */
    struct lr_response *resp = ask(r, NULL);
    assert_int_equal(lr_response_status(resp), LR_OK);
    char *json = lr_response_json(resp);
    no_leak("answer", json);
    has("answer", json, "\"target\":\"ok\"");
    lr_free(json);
    lr_response_free(resp);
    char *m = lr_metrics_json(r);
    no_leak("lr_metrics_json", m);
    lr_free(m);
    char *d = lr_router_describe_json(r);
    no_leak("lr_router_describe_json", d);
    has("describe", d, "LR_SEC_G2");
    lr_free(d);
    lr_close(r);
    logs_stop();
    no_leak("log lines", logs);
    has("log lines", logs, "$LR_SEC_OA was refused");
    char *rl = tenv_slurp(tenv_file(&f->env, "requests.jsonl"));
    no_leak("request_log", rl);
    has("request_log", rl, LR_SECRET_MARK);
    free(rl);
}

/* Whatever a plugin or the core logs, the sink gets it redacted. */
static void log_lines_redacted(void **state)
{
    struct fx *f = *state;
    char err[1024] = "";
    struct lr_router *r = lr_open(f->ini, err, sizeof err);
    assert_non_null(r);
    logs_start();
    /* Stand-in for any code path that formats a key into a line. */
    lr_log(LR_LOG_DEBUG, "header x-api-key: %s; bearer %s", K_AN, K_OA);
    logs_stop();
    no_leak("debug line", logs);
    has("debug line", logs, "x-api-key: " LR_SECRET_MARK "; bearer "
        LR_SECRET_MARK);
    lr_close(r);
    /* Closed: the keys are forgotten, nothing is redacted any more. */
    char s[] = "sk-PLANTED-7f3a9c41d2e85b60";
    assert_int_equal(lr_secrets_redact(s), 0);
}

/* The redaction itself: whole keys, pieces of 8+ characters, short runs
   left alone, registrations counted. */
static void redact_rules(void **state)
{
    (void)state;
    assert_int_equal(lr_secrets_add("short7c"), 0);    /* not kept */
    assert_int_equal(lr_secrets_add(K_OA), 0);
    assert_int_equal(lr_secrets_add(K_OA), 0);         /* two routers */
    char a[] = "k=" K_OA ";";
    assert_int_equal(lr_secrets_redact(a), 1);
    assert_string_equal(a, "k=" LR_SECRET_MARK ";");
    char b[] = "sk-PLANT****5b60 and 7f3a9c41d and sk-PLAN";
    char m[] = "[" K_OA "]" K_OA "x" K_OA;   /* several, back to back */
    assert_int_equal(lr_secrets_redact(m), 3);
    assert_string_equal(m, "[" LR_SECRET_MARK "]" LR_SECRET_MARK "x"
                        LR_SECRET_MARK);
    assert_int_equal(lr_secrets_redact(b), 2);
    /* 8 and 9 characters: shorter than the mark, starred. */
    assert_string_equal(b, "************5b60 and ********* and sk-PLAN");
    char c[] = "short7c stays";
    assert_int_equal(lr_secrets_redact(c), 0);
    lr_secrets_remove(K_OA);
    char d[] = K_OA;
    assert_int_equal(lr_secrets_redact(d), 1);         /* one left */
    lr_secrets_remove(K_OA);
    char e[] = K_OA;
    assert_int_equal(lr_secrets_redact(e), 0);
    assert_string_equal(e, K_OA);
}

/* lr_open errors: a key pasted where its variable's name belongs is
   refused without being repeated. */
static void load_errors(void **state)
{
    struct fx *f = *state;
    char err[1024] = "";
    const char *p = tenv_write(&f->env, "pasted.ini",
        "[target a]\nprovider = openai\nmodel = m\n"
        "api_key_env = " K_OA "\n");
    assert_null(lr_open(p, err, sizeof err));
    no_leak("pasted key error", err);
    has("pasted key", err, "pasted.ini:4: api_key_env must name the "
        "environment variable");
    p = tenv_write(&f->env, "pasted2.ini",
        "[target a]\nprovider = gemini\nmodel = m\n"
        "api_keys_env = LR_SEC_G1, " K_G2 "\n");
    assert_null(lr_open(p, err, sizeof err));
    no_leak("pasted pool key error", err);
    has("pasted pool key", err, "pasted2.ini:4: api_keys_env must name");
    /* A mistake after the keys were read names the target, not them. */
    p = tenv_write(&f->env, "late.ini",
        "[target a]\nprovider = openai\nmodel = m\n"
        "api_key_env = LR_SEC_OA\ntimeout_ms = -5\n");
    assert_null(lr_open(p, err, sizeof err));
    no_leak("late error", err);
    has("late error", err, "[target a]: prices, timeouts");
    /* The gateway's client keys: the same rule. */
    p = tenv_write(&f->env, "client.ini",
        "[target a]\nprovider = openai\nmodel = m\n"
        "[client app]\nkey_env = " K_CL "\n");
    struct cli_run r;
    cli_run(&r, DEADLINE_MS, NULL, "serve", "-c", p, "--listen",
            "127.0.0.1:0", NULL);
    assert_int_equal(r.code, 2);
    run_clean("serve with a pasted client key", &r);
    has("pasted client key", r.err, "client.ini:5: client app: key_env "
        "must name the environment variable");
    cli_run_free(&r);
}

/* --- TLS ------------------------------------------------------------------ */

/* lr_open(path) with its log lines captured in logs; fails the test if
   the router does not open. */
static struct lr_router *open_logged(const char *path)
{
    char err[1024] = "";
    logs_start();
    struct lr_router *r = lr_open(path, err, sizeof err);
    logs_stop();
    if (!r)
        fail_msg("lr_open: %s", err);
    return r;
}

/* The describe JSON has tls_verify per target, a boolean. */
static void describe_tls(struct lr_router *r)
{
    char *d = lr_router_describe_json(r);
    cJSON *j = cJSON_Parse(d);
    lr_free(d);
    assert_non_null(j);
    const cJSON *t;
    int seen = 0;
    cJSON_ArrayForEach(t, cJSON_GetObjectItem(j, "targets")) {
        const cJSON *v = cJSON_GetObjectItem(t, "tls_verify");
        const char *name = cJSON_GetObjectItem(t, "name")->valuestring;
        assert_true(cJSON_IsBool(v));
        assert_int_equal(cJSON_IsTrue(v), strcmp(name, "safe") == 0);
        seen++;
    }
    assert_int_equal(seen, 2);
    cJSON_Delete(j);
}

static void tls_verify_option(void **state)
{
    struct fx *f = *state;
    char err[1024] = "";
    const char *p = tenv_write(&f->env, "tls.ini",
        "[target safe]\nprovider = openai\nmodel = m\n"
        "base_url = https://127.0.0.1:9/v1\n"
        "[target lab]\nprovider = openai\nmodel = m\n"
        "base_url = https://10.0.0.7/v1\ntls_verify = false\n");
    for (int load = 0; load < 2; load++) {
        struct lr_router *r = open_logged(p);
        /* Warned at every load, at WARN, with FILE:LINE and target. */
        has("tls warning", logs, "1 ");
        has("tls warning", logs, "tls.ini:9: [target lab] tls_verify = "
            "false: the TLS certificate of https://10.0.0.7/v1 is not "
            "checked");
        assert_null(strstr(logs, "[target safe]"));
        long peer = -1, host = -1;
        lr_transfer_tls_opts(lr_router_target(r, "safe"), &peer, &host);
        assert_int_equal(peer, 1);
        assert_int_equal(host, 2);
        lr_transfer_tls_opts(lr_router_target(r, "lab"), &peer, &host);
        assert_int_equal(peer, 0);
        assert_int_equal(host, 0);
        if (load == 0)
            describe_tls(r);
        lr_close(r);
    }
    /* check says it too, next to the target. */
    struct cli_run cr;
    cli_run(&cr, DEADLINE_MS, NULL, "check", "-c", p, NULL);
    assert_int_equal(cr.code, 0);
    has("check", cr.out, "2. lab: openai m at https://10.0.0.7/v1 (api key "
        "none; TLS certificate NOT verified, tls_verify = false)");
    has("check", cr.out, "1. safe: openai m at https://127.0.0.1:9/v1 "
        "(api key none)\n");
    cli_run_free(&cr);
    p = tenv_write(&f->env, "tlsbad.ini",
        "[target lab]\nprovider = openai\nmodel = m\ntls_verify = maybe\n");
    assert_null(lr_open(p, err, sizeof err));
    has("bad tls_verify", err, "tlsbad.ini:4: tls_verify: expected true or "
        "false");
}

/* A key sent over plain http:// to another machine: warned at every
   load (FILE:LINE, target, URL); not for loopback nor without a key. */
static void clear_text_key_warning(void **state)
{
    struct fx *f = *state;
    const char *p = tenv_write(&f->env, "clear.ini",
        "[target local]\nprovider = openai\nmodel = m\n"
        "base_url = http://127.0.0.1:9/v1\napi_key_env = LR_SEC_OA\n"
        "[target six]\nprovider = openai\nmodel = m\n"
        "base_url = http://[::1]:9/v1\napi_key_env = LR_SEC_OA\n"
        "[target ollama]\nprovider = openai\nmodel = m\n"
        "base_url = http://10.0.0.8:11434/v1\n"
        "[target lab]\nprovider = openai\nmodel = m\n"
        "base_url = http://10.0.0.7/v1\napi_key_env = LR_SEC_OA\n");
    for (int load = 0; load < 2; load++) {
        struct lr_router *r = open_logged(p);
        has("clear-text warning", logs, "clear.ini:18: [target lab] "
            "base_url http://10.0.0.7/v1 is plain http:// to another "
            "machine");
        assert_null(strstr(logs, "[target local]"));
        assert_null(strstr(logs, "[target six]"));
        assert_null(strstr(logs, "[target ollama]"));
        lr_close(r);
    }
}

/* --- Credentials in a base_url -------------------------------------------*/

#define URL_PW "hunter2pw"          /* a proxy password */
#define URL_QK "AIzaQUERYPLANTED9"  /* ?key= as in Gemini's examples */

/* Neither planted credential, whole or its first 5 characters. */
static void no_url_secret(const char *where, const char *text)
{
    assert_non_null(text);
    if (strstr(text, "hunte") || strstr(text, "AIzaQ") || strstr(text, "bob"))
        fail_msg("%s shows a base_url credential: %.600s", where, text);
}

static void base_url_credentials(void **state)
{
    struct fx *f = *state;
    const char *p = tenv_write(&f->env, "cred.ini",
        "[target proxy]\nprovider = openai\nmodel = m\n"
        "base_url = https://bob:" URL_PW "@10.0.0.7:8443/v1\n"
        "tls_verify = false\n"
        "[target gq]\nprovider = gemini\nmodel = m\n"
        "base_url = http://10.0.0.9/v1beta?key=" URL_QK "&alt=sse#" URL_QK
        "\napi_key_env = LR_SEC_OA\n");
    struct lr_router *r = open_logged(p);
    /* The load warnings print the URL: masked. */
    no_url_secret("load warnings", logs);
    has("tls warning", logs, "certificate of https://***@10.0.0.7:8443/v1 "
        "is not checked");
    has("clear-text warning", logs, "base_url http://10.0.0.9/v1beta?key=***"
        "&alt=***#*** is plain http://");
    char *d = lr_router_describe_json(r);
    no_url_secret("describe", d);
    has("describe", d, "\"https://***@10.0.0.7:8443/v1\"");
    lr_free(d);
    lr_close(r);
    struct cli_run cr;
    cli_run(&cr, DEADLINE_MS, NULL, "check", "-c", p, NULL);
    assert_int_equal(cr.code, 0);
    no_url_secret("check", cr.out);
    no_url_secret("check stderr", cr.err);
    has("check", cr.out, "at https://***@10.0.0.7:8443/v1 (api key none;");
    cli_run_free(&cr);
    cli_run(&cr, DEADLINE_MS, NULL, "check", "-c", p, "--json", NULL);
    assert_int_equal(cr.code, 0);
    no_url_secret("check --json", cr.out);
    cli_run_free(&cr);
    /* A refused base_url is quoted masked too. */
    char err[1024] = "";
    p = tenv_write(&f->env, "credbad.ini",
        "[target x]\nprovider = openai\nmodel = m\n"
        "base_url = ftp://bob:" URL_PW "@h/v1?key=" URL_QK "\n");
    assert_null(lr_open(p, err, sizeof err));
    no_url_secret("bad base_url error", err);
    has("bad base_url error", err, "credbad.ini:4: base_url must start with "
        "http:// or https://, got 'ftp://***@h/v1?key=***'");
}

/* The masking rules, on their own. */
static void url_redact_rules(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"https://api.openai.com/v1", "https://api.openai.com/v1"},
        {"http://u:p@h:1/x", "http://***@h:1/x"},
        {"http://tok@h", "http://***@h"},
        {"http://a@b@h/p@q", "http://***@h/p@q"},
        {"https://h/v1?key=K&alt=sse", "https://h/v1?key=***&alt=***"},
        {"https://h/?K", "https://h/?***"},
        {"https://h/?a=&&b=1;c", "https://h/?a=***&&b=***;***"},
        {"https://h?", "https://h?"},
        {"https://h/p#frag", "https://h/p#***"},
        {"u:p@h/p", "***@h/p"},
        {"", ""},
    };
    char out[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_string_equal(lr_url_redact(cases[i][0], out, sizeof out),
                            cases[i][1]);
    char tiny[8];
    assert_string_equal(lr_url_redact("https://u:p@h", tiny, sizeof tiny),
                        "https:/");
}

/* --- The CLI -------------------------------------------------------------*/

static void cli_outputs(void **state)
{
    struct fx *f = *state;
    struct cli_run r;
    setenv("LLMROUTE_LOG", "debug", 1);
    cli_run(&r, DEADLINE_MS, NULL, "check", "-c", f->ini, NULL);
    assert_int_equal(r.code, 0);
    run_clean("check", &r);
    cli_run_free(&r);
    cli_run(&r, DEADLINE_MS, NULL, "check", "-c", f->ini, "--json", NULL);
    assert_int_equal(r.code, 0);
    run_clean("check --json", &r);
    cli_run_free(&r);
    cli_run(&r, DEADLINE_MS, NULL, "plugins", "-c", f->ini, NULL);
    run_clean("plugins", &r);
    cli_run_free(&r);
    cli_run(&r, DEADLINE_MS, NULL, "chat", "-c", f->ini, "--json",
            "--target", "mask", "hi", NULL);
    assert_int_equal(r.code, 3);
    run_clean("chat --json failure", &r);
    has("chat --json failure", r.out, "provided: ********");
    cli_run_free(&r);
    cli_run(&r, DEADLINE_MS, NULL, "chat", "-c", f->ini, "--target", "raw",
            "hi", NULL);
    assert_int_equal(r.code, 3);
    run_clean("chat failure", &r);
    has("chat failure", r.err, "Bearer " LR_SECRET_MARK "</html>");
    cli_run_free(&r);
    cli_run(&r, DEADLINE_MS, NULL, "chat", "-c", f->ini, "--json", "hi",
            NULL);
    assert_int_equal(r.code, 0);
    run_clean("chat --json", &r);
    has("chat --json", r.err, "was refused");   /* debug logs flowed */
    cli_run_free(&r);
    unsetenv("LLMROUTE_LOG");
}

static void batch_outputs(void **state)
{
    struct fx *f = *state;
    char in[512], out[512];
    snprintf(in, sizeof in, "%s", tenv_write(&f->env, "in.jsonl",
             "{\"id\":\"1\",\"prompt\":\"hi\"}\n"
             "{\"id\":\"2\",\"prompt\":\"hi\",\"target\":\"raw\"}\n"
             "{\"id\":\"3\",\"prompt\":\"hi\",\"target\":\"gm\"}\n"));
    snprintf(out, sizeof out, "%s", tenv_file(&f->env, "out.jsonl"));
    setenv("LLMROUTE_LOG", "debug", 1);
    struct cli_run r;
    cli_run(&r, DEADLINE_MS, NULL, "batch", "-c", f->ini, "--in", in,
            "--out", out, "--json-summary", NULL);
    unsetenv("LLMROUTE_LOG");
    run_clean("batch", &r);
    has("batch summary", r.out, "answered");
    cli_run_free(&r);
    char *text = tenv_slurp(out);
    no_leak("batch results", text);
    has("batch results", text, LR_SECRET_MARK);
    free(text);
}

/* --- The gateway ---------------------------------------------------------*/

static char *get(int port, const char *method, const char *path,
                 const char *key, const char *body, long want)
{
    struct http h;
    http_to(NULL, port, method, path, key, body, 0, &h);
    if (h.status != want)
        fail_msg("%s %s: HTTP %ld, expected %ld: %s", method, path, h.status,
                 want, h.body);
    no_leak(path, h.headers);
    no_leak(path, h.body);
    return h.body;
}

static void serve_outputs(void **state)
{
    struct fx *f = *state;
    struct serve_child gw = {0};
    snprintf(gw.cli, sizeof gw.cli, "%s", cli_path());
    setenv("LLMROUTE_LOG", "debug", 1);
    int rc = serve_child_start(&gw, f->env.dir, "127.0.0.1:0");
    unsetenv("LLMROUTE_LOG");
    assert_int_equal(rc, 0);
    char *b = get(gw.port, "POST", "/v1/chat/completions", K_CL,
                  "{\"model\":\"mask\",\"messages\":[{\"role\":\"user\","
                  "\"content\":\"hi\"}]}", 502);
    has("gateway error body", b, "provided: ********");
    free(b);
    free(get(gw.port, "POST", "/v1/chat/completions", K_CL,
             "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\","
             "\"content\":\"hi\"}]}", 200));
    free(get(gw.port, "POST", "/v1/chat/completions", NULL,
             "{\"model\":\"auto\",\"messages\":[]}", 401));
    free(get(gw.port, "POST", "/v1/chat/completions", "sk-wrong-key-000",
             "{\"model\":\"auto\",\"messages\":[]}", 401));
    const char *paths[] = {"/metrics", "/dashboard", "/dashboard/data",
                           "/v1/models", "/healthz"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        free(get(gw.port, "GET", paths[i], K_CL, NULL, 200));
    b = get(gw.port, "GET", "/dashboard/data", K_CL, NULL, 200);
    has("dashboard data", b, "\"oa\"");
    free(b);
    assert_int_equal(serve_child_stop(&gw), 0);
    char *err = tenv_slurp(gw.errpath);
    no_leak("serve stderr", err);
    has("serve stderr", err, "was refused");
    free(err);
}

int main(void)
{
    lr_set_log_cb(capture, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(redact_rules),
        cmocka_unit_test_setup_teardown(library_outputs, setup, teardown),
        cmocka_unit_test_setup_teardown(log_lines_redacted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(load_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(tls_verify_option, setup, teardown),
        cmocka_unit_test_setup_teardown(clear_text_key_warning, setup,
                                        teardown),
        cmocka_unit_test(url_redact_rules),
        cmocka_unit_test_setup_teardown(base_url_credentials, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(cli_outputs, setup, teardown),
        cmocka_unit_test_setup_teardown(batch_outputs, setup, teardown),
        cmocka_unit_test_setup_teardown(serve_outputs, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
