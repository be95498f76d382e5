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

/* strtod() as in the "C" locale; thread-safe, whatever the process's or
   the calling thread's locale. */
double lr_cnum_strtod(const char *s, char **end);

#endif
