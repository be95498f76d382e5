/*
 * testenv.h - a scratch folder per test with the built plugins linked in,
 * so INI files written there can say `plugin_dir = .` whatever the build
 * directory ($LLMROUTE_TEST_BUILD, default "build") is.  The folder is
 * removed by tenv_free().
 */
#ifndef LR_TESTS_TESTENV_H
#define LR_TESTS_TESTENV_H

#include <stddef.h>

struct tenv {
    char dir[256];
    char path[512];   /* last path built by tenv_write/tenv_file */
};

/* The build directory as an absolute path (static storage). */
const char *tenv_build(void);
/* mkdtemp, then symlinks to the plugins and fixture plugins. */
int tenv_init(struct tenv *e);
/* Write a file (printf-style) into the folder; returns its path (valid
   until the next call). */
const char *tenv_write(struct tenv *e, const char *name, const char *fmt,
                       ...) __attribute__((format(printf, 3, 4)));
const char *tenv_file(struct tenv *e, const char *name);
void tenv_free(struct tenv *e);
/* Read a whole file (malloc'd) or NULL. */
char *tenv_slurp(const char *path);

#endif
