/*
 * capture_read.h - read an Event Hubs Capture Avro file with libavro (null or deflate codec; the
 * receiver's own files and real ones from Azure), one record at a time.
 *
 * The maps (SystemProperties, Properties) come out as JSON objects: long and double values as
 * JSON numbers, string values as JSON strings, bytes values (and strings that are not UTF-8) as
 * {"$bytes":"<base64>"}.
 */
#ifndef RX_LAKE_CAPTURE_READ_H
#define RX_LAKE_CAPTURE_READ_H

#include <stddef.h>
#include <stdint.h>

/* One record; every pointer is valid during the callback only. */
struct rx_land_rec {
    int64_t seq;
    const char *offset; /* NUL-terminated */
    const char *enq_text;
    int64_t enq_ms;       /* x-opt-enqueued-time, else EnqueuedTimeUtc parsed; see enq_ok */
    int enq_ok;           /* 0 when neither gives a time */
    const char *sysprops; /* JSON object text, NUL-terminated */
    const char *props;    /* JSON object text, NUL-terminated */
    const void *body;     /* NULL when Body is null */
    size_t body_len;
};

typedef int (*rx_land_rec_fn)(void *ctx, const struct rx_land_rec *r);

/*
 * Read every record of the Capture file path in order, calling fn with each; a non-zero return
 * of fn stops the reading and is returned. Returns 0; -errno or HC_E_PARSE with *why (when not
 * NULL) set to libavro's message or a static sentence (valid until the next call in this
 * thread) when the file cannot be opened, is not a Capture file or is damaged; -ENOMEM.
 */
int rx_land_read_capture(const char *path, rx_land_rec_fn fn, void *ctx, const char **why);

#endif
