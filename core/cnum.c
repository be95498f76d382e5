/*
 * cnum.c - strtod() in the "C" locale (see cnum.h).
 *
 * strtod_l() with a "C" locale object made on first use; a race on that
 * first use is settled by a compare-and-swap, the loser's object freed.
 * glibc hands out its static C locale for newlocale("C"), so nothing is
 * allocated at all there.  If no locale object can be had, plain
 * strtod() is the fallback: right in every locale whose decimal point is
 * '.', as it was before.
 */
#include "cnum.h"

#include <locale.h>
#include <stdatomic.h>
#include <stdlib.h>

static _Atomic(locale_t) c_loc;

static locale_t c_locale(void)
{
    locale_t l = atomic_load(&c_loc);
    if (l)
        return l;
    l = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (!l)
        return (locale_t)0;
    locale_t none = (locale_t)0;
    if (!atomic_compare_exchange_strong(&c_loc, &none, l)) {
        freelocale(l);
        l = none;
    }
    return l;
}

double lr_cnum_strtod(const char *s, char **end)
{
    locale_t l = c_locale();
    return l ? strtod_l(s, end, l) : strtod(s, end);
}

locale_t lr_cnum_enter(void)
{
    locale_t l = c_locale();
    return l ? uselocale(l) : (locale_t)0;
}

void lr_cnum_leave(locale_t old)
{
    if (old)
        uselocale(old);
}
