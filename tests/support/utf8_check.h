/*
 * utf8_check.h - an independent well-formed UTF-8 check for tests (no
 * overlongs, surrogates or values past U+10FFFF), written apart from
 * core/utf8.c so a bug there cannot hide itself.
 */
#ifndef LR_TESTS_UTF8_CHECK_H
#define LR_TESTS_UTF8_CHECK_H

/* Nonzero when the NUL-terminated s is well-formed UTF-8. */
int utf8_check(const char *s);

#endif
