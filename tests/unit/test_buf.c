/*
 * test_buf.c - lr_buf_printf: formats of only %s and %% take a path
 * without vsnprintf; its output must be the one vsnprintf gives (NULL
 * strings as glibc's "(null)", long output, appending to what is there).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"

/* lr_buf_printf into a buffer holding "pre", against vsnprintf. */
static void check(const char *fmt, ...) LR_PRINTF(1, 2);

static void check(const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    char want[2048] = "pre";
    vsnprintf(want + 3, sizeof want - 3, fmt, ap);
    struct lr_buf b = {0};
    assert_int_equal(lr_buf_puts(&b, "pre"), LR_OK);
    assert_int_equal(lr_buf_vprintf(&b, fmt, ap2), LR_OK);
    assert_string_equal(lr_buf_str(&b), want);
    assert_int_equal(b.len, strlen(want));
    lr_buf_free(&b);
    va_end(ap2);
    va_end(ap);
}

static void strings_like_vsnprintf(void **s)
{
    (void)s;
    const char *volatile none = NULL;
    char big[900];   /* twice over the 256-byte stack buffer */
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    check("%s", "");
    check("%s", "abc");
    check("plain");
    check("%%");
    check("100%% of %s", "it");
    check("%s: %s\n", "Authorization", "Bearer k");
    check("%s/chat/completions", "http://127.0.0.1:1/v1");
    check("[%s]%s%%%s", "a", "", "c");
    check("%s", none);
    check("%s|%s", big, big);
    /* Other conversions still go through vsnprintf. */
    check("%d-%s", 7, "x");
    check("%s=%.3f", "pi", 3.14159);
    check("%5s|%-3s|", "ab", "c");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(strings_like_vsnprintf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
