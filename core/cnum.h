/*
 * cnum.h - numbers in wire and config text read in the "C" locale.
 *
 * strtod() follows the locale an application may have set with
 * setlocale(LC_NUMERIC, ...): under de_DE it stops at the '.' of "1.5".
 * Headers, JSON and INI values are written with '.', whatever the
 * locale of the process that reads them.
 */
#ifndef LR_CORE_CNUM_H
#define LR_CORE_CNUM_H

#include <locale.h>

/* strtod() as in the "C" locale; thread-safe, whatever the process's or
   the calling thread's locale. */
double lr_cnum_strtod(const char *s, char **end);

/* The calling thread in the "C" locale until lr_cnum_leave() with the
   returned value.  The core wraps every provider call that reads or
   writes wire text (build_request, parse_response, stream_event) in it:
   providers use cJSON and printf, which follow the thread's LC_NUMERIC,
   and under a decimal point of two bytes (ps_AF) cJSON refuses "0.5"
   and writes "0.\xab5".  A provider built by someone else is covered
   too. */
locale_t lr_cnum_enter(void);
void lr_cnum_leave(locale_t old);

#endif
