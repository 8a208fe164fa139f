/*
 * enqtime.h - Azure Capture's EnqueuedTimeUtc text, "M/d/yyyy h:mm:ss AM|PM" (UTC, no leading
 * zeros on month, day and hour; 12-hour clock), read back into milliseconds since the epoch
 * (pure). Real Capture files and the receiver's own (rx_record_time_text) write it that way.
 */
#ifndef RX_LAKE_ENQTIME_H
#define RX_LAKE_ENQTIME_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parse s[0..len). Accepts one or two digits for month, day, hour; an optional fraction of a
 * second (".fffffff", as some Azure tools print) is read to the millisecond. Returns 0 and sets
 * *ms, or HC_E_PARSE (*ms unchanged) for anything else, including an impossible date (2/30).
 */
int rx_land_parse_enq_text(const char *s, size_t len, int64_t *ms);

/* "YYYY-MM-DD hh:mm:ss.mmm+00" for ms since the epoch into out (>= 32 bytes); returns length. */
size_t rx_land_iso_ms(int64_t ms, char *out, size_t cap);

#endif
