/*
 * c_locale.h - numbers read and written in the "C" locale, for plugins.
 *
 * An application may call setlocale(LC_NUMERIC, "de_DE.UTF-8"); from then
 * on strtod() stops at the '.' of "1.5" and printf("%f") writes "0,5".
 * Wire text (JSON, headers, messages) always uses '.', so plugins read it
 * with c_strtod() and print numbers into it inside c_locale_enter() /
 * c_locale_leave(), which switch the calling thread only (uselocale).
 *
 * Header-only like provider_util.h: a plugin links nothing of the core
 * (the core has the same in core/cnum.c).  The locale object is made on
 * first use; a race on it is settled by a compare-and-swap.  glibc hands
 * out its static C locale for newlocale("C"), so nothing is allocated.
 * Without a locale object, the plain locale-dependent functions run, as
 * before.
 */
#ifndef LR_C_LOCALE_H
#define LR_C_LOCALE_H

#include <locale.h>
#include <stdatomic.h>
#include <stdlib.h>

static inline locale_t c_locale(void)
{
    static _Atomic(locale_t) obj;
    locale_t l = atomic_load(&obj);
    if (l)
        return l;
    l = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (!l)
        return (locale_t)0;
    locale_t none = (locale_t)0;
    if (!atomic_compare_exchange_strong(&obj, &none, l)) {
        freelocale(l);
        l = none;
    }
    return l;
}

/* strtod() as in the "C" locale. */
static inline double c_strtod(const char *s, char **end)
{
    locale_t l = c_locale();
    return l ? strtod_l(s, end, l) : strtod(s, end);
}

/* Switches the calling thread to the "C" locale until c_locale_leave()
   with the returned value. */
static inline locale_t c_locale_enter(void)
{
    locale_t l = c_locale();
    return l ? uselocale(l) : (locale_t)0;
}

static inline void c_locale_leave(locale_t old)
{
    if (old)
        uselocale(old);
}

#endif
