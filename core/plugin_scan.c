/*
 * plugin_scan.c - lr_plugin_scan(): what `llmroute plugins` shows.  Loads
 * each *.so of a folder in name order with the same checks as a router
 * load, reports it, and unloads it.  Two files claiming one plugin name
 * are reported too, since a router would refuse the second.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmroute.h"
#include "plugin_load.h"

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_so(const char *dir, char ***names, size_t *n)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    struct dirent *e;
    size_t cap = 0;
    *names = NULL;
    *n = 0;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 4 || strcmp(e->d_name + len - 3, ".so") != 0)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            char **v = realloc(*names, cap * sizeof *v);
            if (!v)
                break;
            *names = v;
        }
        if (!((*names)[*n] = strdup(e->d_name)))
            break;
        (*n)++;
    }
    closedir(d);
    qsort(*names, *n, sizeof **names, by_name);
    return 0;
}

static int scan_one(const char *path, char (*seen)[128], size_t n_seen,
                    lr_plugin_info_fn fn, void *user)
{
    char err[4800];
    struct lr_plugin *p = NULL;
    struct lr_plugin_info info = {.path = path};
    int broken = 0;
    if (lr_plugin_open(path, 0, NULL, &p, err, sizeof err) != LR_OK) {
        info.error = err;
        broken = 1;
    }
    else {
        info.name = p->desc->name;
        info.kind = lr_plugin_kind_name(p->desc->kind);
        info.version = p->desc->version ? p->desc->version : "";
        info.abi_major = p->desc->abi_major;
        info.abi_minor = p->desc->abi_minor;
        for (size_t i = 0; i < n_seen; i++) {
            if (strcmp(seen[i], info.name) == 0) {
                snprintf(err, sizeof err, "%s: plugin name '%s' already "
                         "taken by an earlier file", path, info.name);
                info.error = err;
                broken = 1;
            }
        }
        snprintf(seen[n_seen], sizeof seen[0], "%s", info.name);
    }
    fn(&info, user);
    lr_plugin_close(p);
    return broken;
}

int lr_plugin_scan(const char *dir, lr_plugin_info_fn fn, void *user,
                   char *err, size_t errlen)
{
    if (!dir || !fn) {
        snprintf(err, errlen, "lr_plugin_scan: dir and fn are required");
        return -1;
    }
    char **names;
    size_t n;
    if (list_so(dir, &names, &n) != 0) {
        snprintf(err, errlen, "%s: cannot read folder: %s", dir,
                 strerror(errno));
        return -1;
    }
    char (*seen)[128] = calloc(n + 1, sizeof *seen);
    int broken = 0;
    size_t n_seen = 0;
    for (size_t i = 0; seen && i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        broken += scan_one(path, seen, n_seen, fn, user);
        if (seen[n_seen][0])
            n_seen++;
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(seen);
    return broken;
}
