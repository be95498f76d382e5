/*
 * comma_locale.c - a comma-decimal LC_NUMERIC for tests (see the header).
 */
#include "comma_locale.h"

#include <fcntl.h>
#include <ftw.h>
#include <locale.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SRC "/usr/share/i18n/locales/de_DE"

extern char **environ;

static char made_dir[64];      /* the compiled locale's folder, or "" */
static const char *found;      /* a name that gave a comma, or NULL */

static int is_comma(const char *name)
{
    if (!setlocale(LC_NUMERIC, name))
        return 0;
    const struct lconv *lc = localeconv();
    if (lc && strcmp(lc->decimal_point, ",") == 0)
        return 1;
    setlocale(LC_NUMERIC, "C");
    return 0;
}

static int rm_one(const char *p, const struct stat *sb, int flag,
                  struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    remove(p);
    return 0;
}

static void remove_made(void)
{
    if (made_dir[0])
        nftw(made_dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* localedef -i de_DE -f ISO-8859-1 DIR/de_DE, its output silenced. */
static int compile_de(char *why, size_t whylen)
{
    if (access(SRC, R_OK) != 0) {
        snprintf(why, whylen, "none installed, and no %s to compile "
                 "(Debian package `locales`)", SRC);
        return -1;
    }
    snprintf(made_dir, sizeof made_dir, "/tmp/lr-locale-XXXXXX");
    if (!mkdtemp(made_dir)) {
        made_dir[0] = '\0';
        snprintf(why, whylen, "mkdtemp failed");
        return -1;
    }
    atexit(remove_made);
    char out[96];
    snprintf(out, sizeof out, "%s/de_DE", made_dir);
    char *argv[] = {"localedef", "-i", "de_DE", "-f", "ISO-8859-1", out,
                    NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int st = -1;
    int rc = posix_spawnp(&pid, "localedef", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc == 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
        WEXITSTATUS(st) == 0 && setenv("LOCPATH", made_dir, 1) == 0 &&
        is_comma("de_DE"))
        return 0;
    snprintf(why, whylen, "localedef could not compile %s (%s)", SRC,
             rc ? "not found" : "failed");
    return -1;
}

int comma_locale_set(char *why, size_t whylen)
{
    static const char *const names[] = {
        "de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8",
        "nl_NL.UTF-8", "es_ES.UTF-8", "ru_RU.UTF-8", "de_DE"};
    static int tried;

    if (found)
        return is_comma(found) ? 0 : -1;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (is_comma(names[i])) {
            found = names[i];
            return 0;
        }
    if (tried++) {
        snprintf(why, whylen, "none installed, none compiled");
        return -1;
    }
    if (compile_de(why, whylen) != 0)
        return -1;
    found = "de_DE";
    return 0;
}

void comma_locale_reset(void)
{
    setlocale(LC_NUMERIC, "C");
}
