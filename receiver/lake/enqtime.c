#include "receiver/lake/enqtime.h"

#include <stdio.h>
#include <time.h>

#include "common/error.h"

/* Read 1..max decimal digits at s[*i]; returns the value or -1. */
static int digits(const char *s, size_t len, size_t *i, int min, int max)
{
    int v = 0, n = 0;
    while (*i < len && n < max && s[*i] >= '0' && s[*i] <= '9') {
        v = v * 10 + (s[*i] - '0');
        (*i)++;
        n++;
    }
    return n >= min ? v : -1;
}

static int expect(const char *s, size_t len, size_t *i, char c)
{
    if (*i >= len || s[*i] != c)
        return -1;
    (*i)++;
    return 0;
}

static int days_in_month(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : d[m - 1];
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The fraction after the seconds, to the millisecond; -1 when malformed. */
static int fraction_ms(const char *s, size_t len, size_t *i)
{
    int ms = 0, n = 0;
    if (*i >= len || s[*i] != '.')
        return 0;
    (*i)++;
    while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
        if (n < 3)
            ms = ms * 10 + (s[*i] - '0');
        n++;
        (*i)++;
    }
    if (n == 0)
        return -1;
    for (; n < 3; n++)
        ms *= 10;
    return ms;
}

int rx_land_parse_enq_text(const char *s, size_t len, int64_t *ms)
{
    size_t i = 0;
    int mo, d, y, h, mi, sec, frac, pm;

    mo = digits(s, len, &i, 1, 2);
    if (mo < 1 || mo > 12 || expect(s, len, &i, '/'))
        return HC_E_PARSE;
    d = digits(s, len, &i, 1, 2);
    if (d < 1 || expect(s, len, &i, '/'))
        return HC_E_PARSE;
    y = digits(s, len, &i, 4, 4);
    if (y < 1 || d > days_in_month(y, mo) || expect(s, len, &i, ' '))
        return HC_E_PARSE;
    h = digits(s, len, &i, 1, 2);
    if (h < 1 || h > 12 || expect(s, len, &i, ':'))
        return HC_E_PARSE;
    mi = digits(s, len, &i, 2, 2);
    if (mi < 0 || mi > 59 || expect(s, len, &i, ':'))
        return HC_E_PARSE;
    sec = digits(s, len, &i, 2, 2);
    if (sec < 0 || sec > 59)
        return HC_E_PARSE;
    frac = fraction_ms(s, len, &i);
    if (frac < 0 || expect(s, len, &i, ' ') || len - i != 2 || s[i + 1] != 'M')
        return HC_E_PARSE;
    if (s[i] != 'A' && s[i] != 'P')
        return HC_E_PARSE;
    pm = s[i] == 'P';
    h = h % 12 + (pm ? 12 : 0);
    *ms = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000 + (int64_t)sec * 1000 + frac;
    return 0;
}

size_t rx_land_iso_ms(int64_t ms, char *out, size_t cap)
{
    struct tm tm;
    int64_t s = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    time_t t = (time_t)s;
    int n;

    gmtime_r(&t, &tm);
    n = snprintf(out, cap, "%04d-%02d-%02d %02d:%02d:%02d.%03d+00", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms - s * 1000));
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}
