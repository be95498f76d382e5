/*
 * cmd_check.c - `llmroute check -c CONF [--json]`: load the config, every
 * plugin and target, and print what was resolved.  Exit 0 when it all
 * loads, 2 with the FILE:LINE message when not.
 */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "llmroute.h"

static void print_section(const cJSON *cfg, const char *indent)
{
    const cJSON *kv;
    cJSON_ArrayForEach(kv, cfg)
        if (cJSON_IsString(kv))
            printf("%s%s = %s\n", indent, kv->string, kv->valuestring);
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static void print_human(const cJSON *d)
{
    printf("%s: OK\n", str(d, "config"));
    printf("plugin_dir: %s\nstore: %s\n", str(d, "plugin_dir"),
           str(d, "store"));
    const cJSON *pipe = cJSON_GetObjectItemCaseSensitive(d, "pipeline");
    if (cJSON_GetArraySize(pipe) == 0)
        printf("pipeline: (empty: targets are tried in order, moving on "
               "after an error that belongs to the target)\n");
    else
        printf("pipeline:\n");
    int i = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, pipe) {
        printf("  %d. %s (plugin %s)\n", ++i, str(p, "name"),
               str(p, "plugin"));
        print_section(cJSON_GetObjectItemCaseSensitive(p, "config"),
                      "       ");
    }
    printf("targets:\n");
    i = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(d, "targets")) {
        const cJSON *key = cJSON_GetObjectItemCaseSensitive(t, "api_key_set");
        const cJSON *tls = cJSON_GetObjectItemCaseSensitive(t, "tls_verify");
        printf("  %d. %s: %s %s at %s (api key %s%s)\n", ++i,
               str(t, "name"), str(t, "provider"), str(t, "model"),
               str(t, "base_url"), cJSON_IsTrue(key) ? "set" : "none",
               cJSON_IsFalse(tls) ? "; TLS certificate NOT verified, "
                                    "tls_verify = false" : "");
    }
}

int cmd_check(int argc, char **argv)
{
    static const struct option longs[] = {
        {"config", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0}};
    const char *conf = NULL;
    int json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:", longs, NULL)) != -1) {
        if (c == 'c')
            conf = optarg;
        else if (c == 'j')
            json = 1;
        else
            return usage_error("check: see llmroute --help");
    }
    if (!conf || optind < argc)
        return usage_error("check: usage: llmroute check -c CONF [--json]");
    char err[1024];
    struct lr_router *r = lr_open(conf, err, sizeof err);
    if (!r)
        return usage_error("%s", err);
    char *desc = lr_router_describe_json(r);
    cJSON *d = desc ? cJSON_Parse(desc) : NULL;
    int rc = EXIT_OK;
    if (!d)
        rc = usage_error("check: out of memory");
    else if (json)
        puts(desc);
    else
        print_human(d);
    cJSON_Delete(d);
    lr_free(desc);
    lr_close(r);
    return rc;
}
