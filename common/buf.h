/*
 * buf.h - a growable byte string (the caller owns the struct; hc_buf_free releases the bytes).
 *
 * p is always NUL-terminated after any successful call, so it can be used as a C string when the
 * content has no NUL. Functions returning int give 0 or -ENOMEM; on failure nothing is changed.
 */
#ifndef HC_BUF_H
#define HC_BUF_H

#include <stddef.h>
#include <stdint.h>

struct hc_buf {
    char *p;
    size_t len;
    size_t cap;
};

#define HC_BUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

int hc_buf_reserve(struct hc_buf *b, size_t extra);
int hc_buf_add(struct hc_buf *b, const void *data, size_t len);
int hc_buf_addc(struct hc_buf *b, char c);
int hc_buf_adds(struct hc_buf *b, const char *s);
int hc_buf_addf(struct hc_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Decimal integer. */
int hc_buf_add_i64(struct hc_buf *b, int64_t v);
/* The low n bytes (1-8) of v, big-endian (network order, COPY's binary format). */
int hc_buf_add_be(struct hc_buf *b, uint64_t v, int n);
/* A JSON string literal, quotes included, with the escapes RFC 8259 requires. */
int hc_buf_add_json_str(struct hc_buf *b, const char *s, size_t len);

/*
 * The same texts written into the caller's memory, for encoders that size their output first
 * (hc_event_encode_to). The _len functions give the exact bytes the _put functions write; the
 * _put functions write no NUL and return the end of what they wrote.
 */
#define HC_I64_MAXLEN 20 /* "-9223372036854775808" */
size_t hc_i64_len(int64_t v);
char *hc_i64_put(char *dst, int64_t v);
/* At most len * 6 + 2 bytes. */
size_t hc_json_str_len(const char *s, size_t len);
char *hc_json_str_put(char *dst, const char *s, size_t len);
/* Empty the buffer, keeping its memory. */
void hc_buf_reset(struct hc_buf *b);
/* Cut the content back to its first len bytes (len <= b->len), keeping the memory. */
void hc_buf_truncate(struct hc_buf *b, size_t len);
/* Release the memory; b may be reused after. Accepts a zeroed struct. */
void hc_buf_free(struct hc_buf *b);

/* A 64-bit hash of p[0..n) (FNV-1a, then a final mix), never 0 (0 can mark an empty slot). */
uint64_t hc_hash_bytes(const char *p, size_t n);

/* The value 0-15 of the hex digit c (either case), or -1 when c is not one. */
int hc_hex_val(char c);

/* 1 when s[0..len) is valid UTF-8 (no overlongs, no surrogates, at most U+10FFFF). */
int hc_utf8_valid(const char *s, size_t len);

#endif
