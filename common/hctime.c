#include "common/hctime.h"
#include "common/error.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t hc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t hc_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t hc_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void hc_civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

#define MS_PER_DAY 86400000

/* "00" to "99", two characters each. */
static const char digits2[201] = "00010203040506070809"
                                 "10111213141516171819"
                                 "20212223242526272829"
                                 "30313233343536373839"
                                 "40414243444546474849"
                                 "50515253545556575859"
                                 "60616263646566676869"
                                 "70717273747576777879"
                                 "80818283848586878889"
                                 "90919293949596979899";

/* The two digits of v (0..99) at p. */
static void put2(char *p, unsigned v)
{
    memcpy(p, digits2 + 2 * v, 2);
}

/* "YYYY-MM-DD" of day number days (since 1970-01-01), years clamped to 0000..9999. */
static void format_date(int64_t days, char *out)
{
    int y, mo, d;
    hc_civil_from_days(days, &y, &mo, &d);
    if (y < 0 || y > 9999)
        y = y < 0 ? 0 : 9999;
    put2(out, (unsigned)y / 100);
    put2(out + 2, (unsigned)y % 100);
    out[4] = '-';
    put2(out + 5, (unsigned)mo);
    out[7] = '-';
    put2(out + 8, (unsigned)d);
}

/*
 * The date of the day this thread formatted last. Times come mostly in order and many to a day,
 * and the calendar arithmetic is over half the cost of a format.
 */
static _Thread_local struct {
    int64_t days;
    int valid;
    char ymd[10];
} last_day;

int hc_time_format(int64_t ms, char *out)
{
    /* Floor division (times before 1970 too), without negating ms (INT64_MIN is a time). */
    int64_t days = ms / MS_PER_DAY, rem = ms % MS_PER_DAY;
    unsigned s, milli;

    if (rem < 0) {
        days--;
        rem += MS_PER_DAY;
    }
    if (!last_day.valid || last_day.days != days) {
        format_date(days, last_day.ymd);
        last_day.days = days;
        last_day.valid = 1;
    }
    memcpy(out, last_day.ymd, 10);
    s = (unsigned)rem / 1000;
    milli = (unsigned)rem % 1000;
    out[10] = 'T';
    put2(out + 11, s / 3600);
    out[13] = ':';
    put2(out + 14, s / 60 % 60);
    out[16] = ':';
    put2(out + 17, s % 60);
    out[19] = '.';
    out[20] = (char)('0' + milli / 100);
    put2(out + 21, milli % 100);
    out[23] = 'Z';
    out[24] = '\0';
    return 24;
}

/* Read 1..maxd digits at *p; returns -1 when there is none. */
static int digits(const char **p, const char *end, int mind, int maxd)
{
    int v = 0, n = 0;
    while (*p < end && n < maxd && isdigit((unsigned char)**p)) {
        v = v * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    return n >= mind ? v : -1;
}

int hc_date_valid(int y, int m, int d)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return 0;
    if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 0;
    return 1;
}

/* "hh:mm[:ss]" at *p (the hour with hmin or 2 digits) into *h, *mi, *s (s untouched without
 * seconds); 0, or HC_E_PARSE. Ranges are the caller's to check. */
static int clock_time(const char **p, const char *end, int hmin, int *h, int *mi, int *s)
{
    *h = digits(p, end, hmin, 2);
    if (*h < 0 || *p >= end || *(*p)++ != ':')
        return HC_E_PARSE;
    *mi = digits(p, end, 2, 2);
    if (*mi < 0)
        return HC_E_PARSE;
    if (*p < end && **p == ':') {
        (*p)++;
        *s = digits(p, end, 2, 2);
        if (*s < 0)
            return HC_E_PARSE;
    }
    return 0;
}

static int parse_uci(const char *p, const char *end, int64_t *ms)
{
    int mo = digits(&p, end, 1, 2), d, y, h = 0, mi = 0, s = 0;
    if (mo < 0 || p >= end || *p++ != '/')
        return HC_E_PARSE;
    d = digits(&p, end, 1, 2);
    if (d < 0 || p >= end || *p++ != '/')
        return HC_E_PARSE;
    y = digits(&p, end, 4, 4);
    if (y < 0)
        return HC_E_PARSE;
    if (p < end && *p == ' ') {
        p++;
        if (clock_time(&p, end, 1, &h, &mi, &s))
            return HC_E_PARSE;
    }
    if (p != end || !hc_date_valid(y, mo, d) || h > 23 || mi > 59 || s > 60)
        return HC_E_PARSE;
    *ms = (hc_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s) * 1000;
    return 0;
}

static int parse_iso(const char *p, const char *end, int64_t *ms)
{
    int y = digits(&p, end, 4, 4), mo, d, h = 0, mi = 0, s = 0, frac = 0, off = 0;
    if (y < 0 || p >= end || *p++ != '-')
        return HC_E_PARSE;
    mo = digits(&p, end, 2, 2);
    if (mo < 0 || p >= end || *p++ != '-')
        return HC_E_PARSE;
    d = digits(&p, end, 2, 2);
    if (d < 0 || !hc_date_valid(y, mo, d))
        return HC_E_PARSE;
    if (p < end && (*p == 'T' || *p == 't' || *p == ' ')) {
        p++;
        if (clock_time(&p, end, 2, &h, &mi, &s))
            return HC_E_PARSE;
        if (p < end && (*p == '.' || *p == ',')) {
            int n = 0;
            p++;
            if (p >= end || !isdigit((unsigned char)*p))
                return HC_E_PARSE;
            while (p < end && isdigit((unsigned char)*p)) {
                if (n < 3)
                    frac = frac * 10 + (*p - '0');
                n++;
                p++;
            }
            for (; n < 3; n++)
                frac *= 10;
        }
        if (p < end && (*p == 'Z' || *p == 'z')) {
            p++;
        } else if (p < end && (*p == '+' || *p == '-')) {
            int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
            oh = digits(&p, end, 2, 2);
            if (oh < 0)
                return HC_E_PARSE;
            if (p < end && *p == ':')
                p++;
            if (p < end) {
                om = digits(&p, end, 2, 2);
                if (om < 0)
                    return HC_E_PARSE;
            }
            if (oh > 23 || om > 59)
                return HC_E_PARSE;
            off = sign * (oh * 60 + om);
        }
    }
    if (p != end || h > 23 || mi > 59 || s > 60)
        return HC_E_PARSE;
    *ms = (hc_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - off * 60) * 1000 + frac;
    return 0;
}

int hc_time_parse(const char *s, long len, int64_t *ms)
{
    const char *end;
    if (!s)
        return HC_E_PARSE;
    if (len < 0)
        len = (long)strlen(s);
    end = s + len;
    while (s < end && isspace((unsigned char)*s))
        s++;
    while (end > s && isspace((unsigned char)end[-1]))
        end--;
    if (s == end)
        return HC_E_PARSE;
    if (*s == '@') {
        char buf[32], *e;
        long long v;
        if (end - s - 1 <= 0 || end - s - 1 >= (long)sizeof buf)
            return HC_E_PARSE;
        memcpy(buf, s + 1, (size_t)(end - s - 1));
        buf[end - s - 1] = '\0';
        errno = 0;
        v = strtoll(buf, &e, 10);
        if (errno || *e || v > INT64_MAX / 1000 || v < INT64_MIN / 1000)
            return HC_E_PARSE;
        *ms = (int64_t)v * 1000;
        return 0;
    }
    if (memchr(s, '/', (size_t)(end - s)))
        return parse_uci(s, end, ms);
    return parse_iso(s, end, ms);
}

static int parse_num_unit(const char *s, uint64_t *v, const char **unit)
{
    char *e;
    unsigned long long n;
    if (!s || !isdigit((unsigned char)*s))
        return HC_E_PARSE;
    errno = 0;
    n = strtoull(s, &e, 10);
    if (errno)
        return HC_E_PARSE;
    while (*e == ' ')
        e++;
    *v = n;
    *unit = e;
    return 0;
}

int hc_duration_parse(const char *s, int64_t *ms)
{
    static const struct {
        const char *u;
        int64_t mul;
    } units[] = {
        {"", 1000},     {"ms", 1},      {"s", 1000},     {"m", 60000},
        {"min", 60000}, {"h", 3600000}, {"d", 86400000}, {"w", 604800000},
    };
    uint64_t v;
    const char *u;
    if (parse_num_unit(s, &v, &u))
        return HC_E_PARSE;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (!strcmp(u, units[i].u)) {
            if (v > (uint64_t)INT64_MAX / (uint64_t)units[i].mul)
                return HC_E_PARSE;
            *ms = (int64_t)v * units[i].mul;
            return 0;
        }
    }
    return HC_E_PARSE;
}

int hc_size_parse(const char *s, uint64_t *bytes)
{
    uint64_t v, mul = 1;
    const char *u;
    if (parse_num_unit(s, &v, &u))
        return HC_E_PARSE;
    switch (toupper((unsigned char)*u)) {
    case '\0':
        break;
    case 'K':
        mul = 1ull << 10;
        u++;
        break;
    case 'M':
        mul = 1ull << 20;
        u++;
        break;
    case 'G':
        mul = 1ull << 30;
        u++;
        break;
    case 'T':
        mul = 1ull << 40;
        u++;
        break;
    case 'B':
        break;
    default:
        return HC_E_PARSE;
    }
    if (*u == 'i' && mul > 1)
        u++;
    if (*u == 'B' || *u == 'b')
        u++;
    if (*u || (v && mul > UINT64_MAX / v))
        return HC_E_PARSE;
    *bytes = v * mul;
    return 0;
}

void hc_sleep_ms(int64_t ms, volatile int *stop)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
        if (stop && *stop)
            return;
    }
}
