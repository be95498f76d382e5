/*
 * cmd_plugins.c - `llmroute plugins [-c CONF | --dir DIR] [--json]`: list
 * every plugin file of the folder with its kind and ABI version, and name
 * each broken file with its reason.  Exit 0 when all load, 2 otherwise.
 */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "llmroute.h"

static void print_line(const struct lr_plugin_info *p, void *user)
{
    cJSON *arr = user;
    if (arr) {
        cJSON *o = cJSON_CreateObject();
        if (!o)
            return;
        cJSON_AddStringToObject(o, "path", p->path);
        if (p->error) {
            cJSON_AddStringToObject(o, "error", p->error);
        }
        else {
            cJSON_AddStringToObject(o, "name", p->name);
            cJSON_AddStringToObject(o, "kind", p->kind);
            cJSON_AddStringToObject(o, "version", p->version);
            char abi[32];
            snprintf(abi, sizeof abi, "%d.%d", p->abi_major, p->abi_minor);
            cJSON_AddStringToObject(o, "abi", abi);
        }
        cJSON_AddItemToArray(arr, o);
        return;
    }
    if (p->error)
        printf("BROKEN    %s\n", p->error);
    else
        printf("%-12s %-9s ABI %d.%d  v%-8s %s\n", p->name, p->kind,
               p->abi_major, p->abi_minor, p->version, p->path);
}

int cmd_plugins(int argc, char **argv)
{
    static const struct option longs[] = {
        {"config", required_argument, NULL, 'c'},
        {"dir", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0}};
    const char *conf = NULL, *dir = NULL;
    int json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:", longs, NULL)) != -1) {
        if (c == 'c')
            conf = optarg;
        else if (c == 'd')
            dir = optarg;
        else if (c == 'j')
            json = 1;
        else
            return usage_error("plugins: see llmroute --help");
    }
    if ((!conf == !dir) || optind < argc)
        return usage_error("plugins: give exactly one of -c CONF or "
                           "--dir DIR");
    char path[4096], err[1024];
    if (conf && lr_config_plugin_dir(conf, path, sizeof path, err,
                                     sizeof err) != LR_OK)
        return usage_error("%s", err);
    cJSON *arr = json ? cJSON_CreateArray() : NULL;
    int broken = lr_plugin_scan(conf ? path : dir, print_line, arr, err,
                                sizeof err);
    if (arr) {
        char *s = cJSON_Print(arr);
        if (s)
            puts(s);
        free(s);
        cJSON_Delete(arr);
    }
    if (broken < 0)
        return usage_error("%s", err);
    return broken ? EXIT_USAGE : EXIT_OK;
}
