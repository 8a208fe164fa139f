/*
 * colmap_num.c - numbers of the column mapping (colmap.h): doubles printed as JavaScript prints
 * them (shortest round-trip form, ag_fmt_double), decimals read into that form, and integers.
 */
#include "agent/source/colmap_int.h"
#include "common/error.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Lay out decimal digits d[0..k) (d[0] not '0') with value 0.d × 10^n the way JavaScript
 * prints numbers: positional for 1e-6 <= |v| < 1e21, else d.ddde±x. Returns the length.
 */
static size_t layout(int neg, const char *d, int k, int n, char *out)
{
    char *o = out;
    if (neg)
        *o++ = '-';
    if (k <= n && n <= 21) {
        memcpy(o, d, (size_t)k);
        memset(o + k, '0', (size_t)(n - k));
        o += n;
    } else if (0 < n && n <= 21) {
        memcpy(o, d, (size_t)n);
        o += n;
        *o++ = '.';
        memcpy(o, d + n, (size_t)(k - n));
        o += k - n;
    } else if (-6 < n && n <= 0) {
        *o++ = '0';
        *o++ = '.';
        memset(o, '0', (size_t)-n);
        o += -n;
        memcpy(o, d, (size_t)k);
        o += k;
    } else {
        int e = n - 1;
        *o++ = d[0];
        if (k > 1) {
            *o++ = '.';
            memcpy(o, d + 1, (size_t)(k - 1));
            o += k - 1;
        }
        o += sprintf(o, "e%c%d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    }
    *o = '\0';
    return (size_t)(o - out);
}

/*
 * Fast path of ag_fmt_double for values with at most 15 significant digits and 8 decimals
 * (prices, quantities, ids): the first p with round(v·10^p)/10^p == v gives the shortest
 * decimal, since the division is correctly rounded and a decimal of 15 digits or fewer is the
 * only one of that length that reads back as v. Returns 0 when v is not such a value.
 */
static size_t fmt_short_decimal(double v, char out[AG_NUM_STRLEN])
{
    static const double pow10[] = {1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8};
    double a = fabs(v);
    char d[20];
    int k = 0, n;

    if (a >= 1e15 || a < 1e-6)
        return 0;
    for (int p = 0; p <= 8; p++) {
        double scaled = nearbyint(a * pow10[p]);
        if (scaled >= 1e15)
            return 0;
        if (scaled / pow10[p] != a)
            continue;
        uint64_t u = (uint64_t)scaled;
        char tmp[20], *t = tmp + sizeof tmp;
        do {
            *--t = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        k = (int)(tmp + sizeof tmp - t);
        n = k - p;
        memcpy(d, t, (size_t)k);
        while (k > 1 && d[k - 1] == '0')
            k--;
        return layout(v < 0, d, k, n, out);
    }
    return 0;
}

size_t ag_fmt_double(double v, char out[AG_NUM_STRLEN])
{
    char buf[40], d[20];
    int k = 0, exp;
    size_t len;
    const char *p;

    if (v == 0 || !isfinite(v)) {
        strcpy(out, "0");
        return 1;
    }
    len = fmt_short_decimal(v, out);
    if (len)
        return len;
    if (fabs(v) >= DBL_MIN) {
        /* Normal: 15 digits read back when any shorter form does (then the zeros strip off). */
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(buf, sizeof buf, "%.*e", prec - 1, v);
            if (prec == 17 || strtod(buf, NULL) == v)
                break;
        }
    } else {
        /* Subnormal: fewer bits, so search; reading back is monotonic in the precision. */
        int lo = 1, hi = 17;
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            snprintf(buf, sizeof buf, "%.*e", mid - 1, v);
            if (strtod(buf, NULL) == v)
                hi = mid;
            else
                lo = mid + 1;
        }
        snprintf(buf, sizeof buf, "%.*e", lo - 1, v);
    }
    /* buf is [-]d.ddde±xx */
    p = buf + (buf[0] == '-');
    for (; *p != 'e'; p++)
        if (*p != '.')
            d[k++] = *p;
    exp = atoi(p + 1);
    while (k > 1 && d[k - 1] == '0')
        k--;
    return layout(v < 0, d, k, exp + 1, out);
}

/*
 * A decimal number s[0..len) (blanks trimmed) into its shortest form in out. Plain decimals of
 * up to 15 significant digits are rewritten without going through a double (they round-trip
 * exactly); anything else goes through strtod and ag_fmt_double. 0 or HC_E_INVAL (*msg set).
 */
int ag_colmap__number_text(const char *s, size_t len, char out[AG_NUM_STRLEN], const char **msg)
{
    char d[AG_NUM_STRLEN];
    size_t i = 0, int_digits = 0, frac_digits = 0;
    int neg = 0, k = 0, n = 0, lead = 1, has_exp = 0;

    *msg = "not a number";
    if (i < len && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, int_digits++) {
        if (lead && s[i] == '0')
            continue;
        lead = 0;
        n++;
        if (k < 16)
            d[k] = s[i];
        k++;
    }
    if (i < len && s[i] == '.') {
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, frac_digits++) {
            if (lead && s[i] == '0') {
                n--;
                continue;
            }
            lead = 0;
            if (k < 16)
                d[k] = s[i];
            k++;
        }
    }
    if (!int_digits && !frac_digits)
        return HC_E_INVAL;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        size_t e0;
        if (++i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        for (e0 = i; i < len && s[i] >= '0' && s[i] <= '9'; i++)
            ;
        if (i == e0)
            return HC_E_INVAL;
        has_exp = 1;
    }
    if (i != len)
        return HC_E_INVAL;
    if (!has_exp && k <= 15) {
        while (k > 0 && d[k - 1] == '0')
            k--;
        if (!k) {
            strcpy(out, "0");
            return 0;
        }
        if (n > -6 && n <= 21) {
            layout(neg, d, k, n, out);
            return 0;
        }
    }
    char tmp[512];
    double v;
    if (len >= sizeof tmp) {
        *msg = "number too long";
        return HC_E_INVAL;
    }
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    v = strtod(tmp, NULL);
    if (!isfinite(v)) {
        *msg = "number out of range";
        return HC_E_INVAL;
    }
    ag_fmt_double(v, out);
    return 0;
}

/* Optional sign, digits, an optional ".000" tail; int64. 0 or HC_E_INVAL (*msg set). */
int ag_colmap__integer_value(const char *s, size_t len, int64_t *v, const char **msg)
{
    size_t i = 0, nd = 0;
    uint64_t u = 0, max;
    int neg = 0;

    *msg = "not an integer";
    if (i < len && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    max = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, nd++) {
        unsigned dig = (unsigned)(s[i] - '0');
        if (u > (max - dig) / 10) {
            *msg = "integer out of range";
            return HC_E_INVAL;
        }
        u = u * 10 + dig;
    }
    if (!nd)
        return HC_E_INVAL;
    if (i < len && s[i] == '.')
        for (i++; i < len && s[i] == '0'; i++)
            ;
    if (i != len)
        return HC_E_INVAL;
    *v = neg ? (int64_t)(0 - u) : (int64_t)u;
    return 0;
}
