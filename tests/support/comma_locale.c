/*
 * comma_locale.c - a comma-decimal LC_NUMERIC, and one whose decimal
 * point is more than one byte, for tests (see the header).
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

#define SRC_DIR "/usr/share/i18n/locales/"

extern char **environ;

/* One kind of locale the tests ask for. */
struct want {
    const char *const *names;  /* installed names to try, NULL-ended */
    const char *src;           /* localedef -i SRC ... */
    const char *charmap;       /* ... -f CHARMAP */
    const char *made;          /* the compiled one's name: none of the
                                  installed ones, since glibc remembers
                                  a name it did not find in a folder */
    int (*fits)(const char *dp);
    const char *found;         /* a name that gave it, or NULL */
    int tried;                 /* compiled (or failed to) once */
};

static char made_dir[64];      /* the compiled locales' folder, or "" */

static int dp_comma(const char *dp)
{
    return strcmp(dp, ",") == 0;
}

static int dp_multibyte(const char *dp)
{
    return strlen(dp) > 1;
}

/* Switch LC_NUMERIC to name; 1 when its decimal point fits, else 0 with
   LC_NUMERIC back to "C". */
static int is_kind(const struct want *w, const char *name)
{
    if (!setlocale(LC_NUMERIC, name))
        return 0;
    const struct lconv *lc = localeconv();
    if (lc && lc->decimal_point && w->fits(lc->decimal_point))
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

/* The temporary folder compiled locales go to (LOCPATH); 0 or -1. */
static int make_dir(char *why, size_t whylen)
{
    if (made_dir[0])
        return 0;
    snprintf(made_dir, sizeof made_dir, "/tmp/lr-locale-XXXXXX");
    if (!mkdtemp(made_dir)) {
        made_dir[0] = '\0';
        snprintf(why, whylen, "mkdtemp failed");
        return -1;
    }
    atexit(remove_made);
    return 0;
}

/* localedef -i SRC -f CHARMAP DIR/MADE, its output silenced. */
static int compile(struct want *w, char *why, size_t whylen)
{
    char src[96], out[160];
    snprintf(src, sizeof src, SRC_DIR "%s", w->src);
    if (access(src, R_OK) != 0) {
        snprintf(why, whylen, "none installed, and no %s to compile "
                 "(Debian package `locales`)", src);
        return -1;
    }
    if (make_dir(why, whylen) != 0)
        return -1;
    snprintf(out, sizeof out, "%s/%s", made_dir, w->made);
    char *argv[] = {"localedef", "-i", (char *)w->src, "-f",
                    (char *)w->charmap, out, NULL};
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
        is_kind(w, w->made)) {
        w->found = w->made;
        return 0;
    }
    snprintf(why, whylen, "localedef could not compile %s (%s)", src,
             rc ? "not found" : "failed");
    return -1;
}

/* An installed locale of kind w, else one compiled once per process.
   Compiling sets LOCPATH, which may hide what was installed, so a name
   found before is checked again each time. */
static int set_kind(struct want *w, char *why, size_t whylen)
{
    if (w->found && is_kind(w, w->found))
        return 0;
    w->found = NULL;
    for (size_t i = 0; w->names[i]; i++)
        if (is_kind(w, w->names[i])) {
            w->found = w->names[i];
            return 0;
        }
    if (w->tried++) {
        snprintf(why, whylen, "none installed, none compiled");
        return -1;
    }
    return compile(w, why, whylen);
}

int comma_locale_set(char *why, size_t whylen)
{
    static const char *const names[] = {
        "de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8",
        "nl_NL.UTF-8", "es_ES.UTF-8", "ru_RU.UTF-8", "de_DE", NULL};
    static struct want w = {names, "de_DE", "ISO-8859-1", "lr_comma",
                            dp_comma, NULL, 0};
    return set_kind(&w, why, whylen);
}

int mb_point_locale_set(char *why, size_t whylen)
{
    /* Pashto: U+066B ARABIC DECIMAL SEPARATOR, two bytes in UTF-8. */
    static const char *const names[] = {"ps_AF.UTF-8", "ps_AF.utf8", NULL};
    static struct want w = {names, "ps_AF", "UTF-8", "lr_mbpoint",
                            dp_multibyte, NULL, 0};
    return set_kind(&w, why, whylen);
}

void comma_locale_reset(void)
{
    setlocale(LC_NUMERIC, "C");
}
