/*
 * hctime.h - wall-clock and monotonic time, RFC 3339 text and durations.
 *
 * Times are int64 milliseconds since the Unix epoch, UTC.
 */
#ifndef HC_TIME_H
#define HC_TIME_H

#include <stddef.h>
#include <stdint.h>

#define HC_TIME_STRLEN 25 /* "2026-11-22T03:00:00.123Z" + NUL */

/* Wall clock, ms since the epoch. */
int64_t hc_now_ms(void);
/* Monotonic clock in ns, for intervals. */
int64_t hc_mono_ns(void);

/* Write ms as "YYYY-MM-DDThh:mm:ss.mmmZ" into out (at least HC_TIME_STRLEN bytes). Returns 24. */
int hc_time_format(int64_t ms, char *out);

/*
 * Parse a timestamp: RFC 3339 / ISO 8601 ("2026-11-22T03:00:00Z", optional fraction, "Z" or
 * "+hh:mm" offset, a space in place of 'T', no zone = UTC), a date alone ("2026-11-22"),
 * the UCI Online Retail form "12/1/2010 8:26" (month/day/year hour:minute, UTC), or
 * an integer of seconds since the epoch prefixed with '@'. len may be -1 for a C string.
 * Returns 0 and sets *ms, or HC_E_PARSE.
 */
int hc_time_parse(const char *s, long len, int64_t *ms);

/*
 * Parse a duration: an integer with an optional unit ms, s, m, h, d (no unit = seconds),
 * e.g. "90s", "15m", "7d". Returns 0 and sets *ms, or HC_E_PARSE.
 */
int hc_duration_parse(const char *s, int64_t *ms);

/*
 * Parse a byte size: an integer with an optional unit K, M, G, T (powers of 1024, an optional
 * trailing "B" or "iB"), e.g. "256M", "1GiB". Returns 0 and sets *bytes, or HC_E_PARSE.
 */
int hc_size_parse(const char *s, uint64_t *bytes);

/* Days since 1970-01-01 of a proleptic Gregorian date, and back (Howard Hinnant's algorithms). */
int64_t hc_days_from_civil(int64_t y, int m, int d);
void hc_civil_from_days(int64_t days, int *y, int *m, int *d);
/* 1 when y-m-d is a real date (months 1-12, days of the month, 29 February in leap years). */
int hc_date_valid(int y, int m, int d);

/* Sleep for ms milliseconds (restarting on EINTR unless *stop becomes non-zero; stop may be NULL).
 */
void hc_sleep_ms(int64_t ms, volatile int *stop);

#endif
