/*
 * fuzz_enqtime.c - Capture's EnqueuedTimeUtc text (receiver/capture/record.h) on any bytes: a
 * time it accepts writes back as Capture text within the buffer, and leaves *ms alone when it
 * refuses.
 */
#include "receiver/capture/record.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int64_t ms = 12345;
    if (rx_record_time_parse((const char *)data, size, &ms) == 0) {
        char out[RX_ENQ_TEXT_MAX];
        size_t n = rx_record_time_text(ms, out);
        FZ_CHECK(n > 0 && n < sizeof out && strlen(out) == n);
    } else {
        FZ_CHECK(ms == 12345);
    }
    return 0;
}
