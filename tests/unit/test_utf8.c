/*
 * test_utf8.c - core/utf8.c: valid text is kept byte for byte, each
 * maximal ill-formed subpart becomes one U+FFFD (the Unicode/WHATWG
 * practice), including the classic traps: overlongs, surrogates, values
 * past U+10FFFF, truncated sequences in the middle and at the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "utf8.h"
#include "utf8_check.h"

#define R "\xEF\xBF\xBD"

static void scrubbed(const char *in, size_t len, const char *want)
{
    struct lr_buf b = {0};
    assert_int_equal(lr_buf_append(&b, in, len), LR_OK);
    assert_int_equal(lr_utf8_scrub(&b), LR_OK);
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);
    assert_true(utf8_check(b.data));
    lr_buf_free(&b);
}

#define SCRUB(in, want) scrubbed(in, sizeof in - 1, want)

static void valid_kept(void **s)
{
    (void)s;
    SCRUB("", "");
    SCRUB("plain ascii", "plain ascii");
    SCRUB("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF",
          "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF");
    SCRUB("\xED\x9F\xBF \xEE\x80\x80", "\xED\x9F\xBF \xEE\x80\x80");
}

static void bad_replaced(void **s)
{
    (void)s;
    SCRUB("a\xFF" "b", "a" R "b");
    SCRUB("\x80\x80", R R);                  /* lone continuations */
    SCRUB("\xC0\xAF", R R);                  /* overlong '/' */
    SCRUB("\xE0\x80\xAF", R R R);            /* overlong, 3 bytes */
    SCRUB("\xED\xA0\x80", R R R);            /* a surrogate */
    SCRUB("\xF4\x90\x80\x80", R R R R);      /* past U+10FFFF */
    SCRUB("\xF5", R);
    SCRUB("x\xE2\x82", "x" R);               /* cut at the end */
    SCRUB("\xE2\x82y", R "y");               /* cut in the middle */
    SCRUB("\xF0\x9F\x98", R);
    SCRUB("\xC3", R);
}

static void prefix(void **s)
{
    (void)s;
    assert_int_equal(lr_utf8_valid_prefix("ab\xC3\xA9\xFF", 5), 4);
    assert_int_equal(lr_utf8_valid_prefix("ab\xC3", 3), 2);
    assert_int_equal(lr_utf8_valid_prefix("", 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_kept),
        cmocka_unit_test(bad_replaced),
        cmocka_unit_test(prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
