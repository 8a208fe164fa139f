/*
 * colmap_int.h - internal to agent/source's column mapping (colmap.h): the number readers its
 * conversion (colmap.c) shares with the number formatting of colmap_num.c. Pure functions: no
 * allocation, no logging; *msg is a static sentence for a reject reason.
 */
#ifndef AG_SOURCE_COLMAP_INT_H
#define AG_SOURCE_COLMAP_INT_H

#include <stddef.h>
#include <stdint.h>

#include "agent/source/colmap.h"

/*
 * A decimal number s[0..len) (blanks trimmed) into its shortest form in out (as ag_fmt_double
 * prints it). 0 or HC_E_INVAL (*msg set).
 */
int ag_colmap__number_text(const char *s, size_t len, char out[AG_NUM_STRLEN], const char **msg);

/* Optional sign, digits, an optional ".000" tail; int64. 0 or HC_E_INVAL (*msg set). */
int ag_colmap__integer_value(const char *s, size_t len, int64_t *v, const char **msg);

#endif
