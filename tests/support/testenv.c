/*
 * testenv.c - scratch folders with the built plugins linked in.
 */
#include "testenv.h"

#include <dirent.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *tenv_build(void)
{
    static char abs[PATH_MAX];
    if (abs[0])
        return abs;
    const char *b = getenv("LLMROUTE_TEST_BUILD");
    if (!b || !*b)
        b = "build";
    if (!realpath(b, abs))
        snprintf(abs, sizeof abs, "%s", b);
    return abs;
}

static void link_all(const char *from, const char *to)
{
    DIR *d = opendir(from);
    if (!d)
        return;
    struct dirent *ent;
    while ((ent = readdir(d))) {
        size_t n = strlen(ent->d_name);
        if (n < 4 || strcmp(ent->d_name + n - 3, ".so") != 0)
            continue;
        char src[PATH_MAX], dst[PATH_MAX];
        snprintf(src, sizeof src, "%s/%s", from, ent->d_name);
        snprintf(dst, sizeof dst, "%s/%s", to, ent->d_name);
        if (symlink(src, dst) != 0)
            perror("symlink");
    }
    closedir(d);
}

int tenv_init(struct tenv *e)
{
    /* Files the tests write (a fake .so among them) must not be group-
       writable under a umask of 002, or the loader refuses them for
       that instead of what the test is about. */
    umask(022);
    snprintf(e->dir, sizeof e->dir, "/tmp/lrtest.XXXXXX");
    if (!mkdtemp(e->dir))
        return -1;
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/plugins", tenv_build());
    link_all(p, e->dir);
    snprintf(p, sizeof p, "%s/tests/plugins", tenv_build());
    link_all(p, e->dir);
    /* INI files without plugin_dir find the plugins here. */
    setenv("LLMROUTE_PLUGIN_DIR", e->dir, 1);
    return 0;
}

const char *tenv_file(struct tenv *e, const char *name)
{
    snprintf(e->path, sizeof e->path, "%s/%s", e->dir, name);
    return e->path;
}

const char *tenv_write(struct tenv *e, const char *name, const char *fmt,
                       ...)
{
    const char *path = tenv_file(e, name);
    FILE *fp = fopen(path, "w");
    if (!fp)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(fp, fmt, ap);
    va_end(ap);
    fclose(fp);
    return path;
}

void tenv_free(struct tenv *e)
{
    DIR *d = opendir(e->dir);
    if (d) {
        struct dirent *ent;
        while ((ent = readdir(d))) {
            if (ent->d_name[0] == '.')
                continue;
            char p[PATH_MAX];
            snprintf(p, sizeof p, "%s/%s", e->dir, ent->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(e->dir);
}

char *tenv_slurp(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf) {
        size_t got = fread(buf, 1, (size_t)n, fp);
        buf[got] = '\0';
    }
    fclose(fp);
    return buf;
}
