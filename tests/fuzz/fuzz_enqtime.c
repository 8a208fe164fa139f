/*
 * fuzz_enqtime.c - Capture's EnqueuedTimeUtc text (receiver/lake/enqtime.h) on any bytes: a time
 * it accepts writes as ISO text within the buffer, and leaves *ms alone when it refuses.
 */
#include "receiver/lake/enqtime.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int64_t ms = 12345;
    if (rx_land_parse_enq_text((const char *)data, size, &ms) == 0) {
        char out[32];
        size_t n = rx_land_iso_ms(ms, out, sizeof out);
        FZ_CHECK(n > 0 && n < sizeof out && strlen(out) == n);
    } else {
        FZ_CHECK(ms == 12345);
    }
    return 0;
}
