/*
 * comma_locale.h - switch the test process's LC_NUMERIC to a locale
 * whose decimal point is ',', as an application may, to show that wire
 * and config numbers do not depend on it.
 *
 * An installed de_DE, fr_FR, ... is used when there is one; otherwise,
 * when the `locales` package's sources and localedef are there, de_DE
 * is compiled once per process into a temporary folder (LOCPATH),
 * removed at exit.  Tests skip when neither works.
 *
 * mb_point_locale_set() does the same for a locale whose decimal point
 * is more than one byte (ps_AF.UTF-8: U+066B, "\xd9\xab"), which code
 * that swaps one byte of the point back to '.' gets wrong.
 */
#ifndef LR_TESTS_COMMA_LOCALE_H
#define LR_TESTS_COMMA_LOCALE_H

#include <stddef.h>

/* 0 with LC_NUMERIC switched; -1 with the reason in why. */
int comma_locale_set(char *why, size_t whylen);
/* The same with a multi-byte decimal point. */
int mb_point_locale_set(char *why, size_t whylen);
/* LC_NUMERIC back to "C". */
void comma_locale_reset(void);

/* In a cmocka test: switch, or print why and skip the test. */
#define COMMA_LOCALE_OR_SKIP()                                            \
    do {                                                                  \
        char why_[256];                                                   \
        if (comma_locale_set(why_, sizeof why_) != 0) {                   \
            print_message("skipped: no comma-decimal locale: %s\n", why_); \
            skip();                                                       \
        }                                                                 \
    } while (0)

/* The same with a multi-byte decimal point. */
#define MB_POINT_LOCALE_OR_SKIP()                                         \
    do {                                                                  \
        char why_[256];                                                   \
        if (mb_point_locale_set(why_, sizeof why_) != 0) {                \
            print_message("skipped: no multi-byte decimal point "         \
                          "locale: %s\n", why_);                          \
            skip();                                                       \
        }                                                                 \
    } while (0)

#endif
