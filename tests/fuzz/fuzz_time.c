/*
 * fuzz_time.c - the time, duration and size parsers of common/hctime.h on any bytes (first byte
 * chooses). A timestamp accepted formats and parses back to the same millisecond when it is
 * within the years hc_time_format writes (0000-9999).
 */
#include "common/hctime.h"
#include "tests/fuzz/fuzz.h"

#define MS_YEAR0    (-62167219200000LL) /* 0000-01-01T00:00:00Z */
#define MS_YEAR9999 (253402300799999LL) /* 9999-12-31T23:59:59.999Z */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t which = data[0] % 3;
    char *s = fz_cstr(data + 1, size - 1);
    if (!s)
        return 0;
    if (which == 0) {
        int64_t ms = 0;
        /* by length (not NUL-terminated: the copy is, but len stops short of it) and as a C string
         */
        if (hc_time_parse((const char *)data + 1, (long)(size - 1), &ms) == 0 && ms >= MS_YEAR0 &&
            ms <= MS_YEAR9999) {
            char out[64], again[64];
            int64_t back = 0;
            hc_time_format(ms, out);
            FZ_CHECK(hc_time_parse(out, -1, &back) == 0 && back == ms);
            hc_time_format(back, again);
            FZ_CHECK(strcmp(out, again) == 0);
        }
        hc_time_parse(s, -1, &ms);
    } else if (which == 1) {
        int64_t ms;
        hc_duration_parse(s, &ms);
    } else {
        uint64_t bytes;
        hc_size_parse(s, &bytes);
    }
    free(s);
    return 0;
}
