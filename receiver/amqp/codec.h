/*
 * codec.h - a reader of AMQP 1.0 encoded values (pure: bytes in, values out, no allocation).
 *
 * The front end reads what clients send with it rather than with proton's pn_data_t: proton 0.37
 * keeps only the last data section of a message (pn_message_decode), and a reader that points
 * into the delivery's bytes copies no body. Every function checks lengths against the end of
 * the input; nothing is read past it, whatever the bytes are (tests/fuzz targets the users).
 *
 *   struct rx_amqp_rd r = {p, p + n};
 *   struct rx_amqp_val v;
 *   while (r.p < r.end && rx_amqp_read(&r, &v) == 0) ...
 *
 * Values point into the input: they live as long as its bytes.
 */
#ifndef RX_AMQP_CODEC_H
#define RX_AMQP_CODEC_H

#include <stddef.h>
#include <stdint.h>

/* The kinds of values, grouped as the front end uses them. */
enum rx_amqp_kind {
    RX_AK_NULL,
    RX_AK_BOOL,
    RX_AK_UINT,      /* ubyte, ushort, uint, ulong: u */
    RX_AK_INT,       /* byte, short, int, long: i */
    RX_AK_FLOAT,     /* float, double: d */
    RX_AK_TIME,      /* timestamp: i (ms since the epoch) */
    RX_AK_UUID,      /* bytes: 16 */
    RX_AK_CHAR,      /* u: the UTF-32 code point */
    RX_AK_BINARY,    /* bytes */
    RX_AK_STRING,    /* bytes (UTF-8, not checked) */
    RX_AK_SYMBOL,    /* bytes (ASCII, not checked) */
    RX_AK_LIST,      /* bytes: the items, count: how many */
    RX_AK_MAP,       /* bytes: the keys and values, count: how many of both */
    RX_AK_ARRAY,     /* bytes: the element constructor and the elements, count: elements */
    RX_AK_DESCRIBED, /* bytes: descriptor then value (read them with rx_amqp_read) */
    RX_AK_DECIMAL,   /* bytes: decimal32/64/128, kept raw */
};

struct rx_amqp_val {
    enum rx_amqp_kind kind;
    uint8_t code; /* the format code */
    uint64_t u;
    int64_t i;
    double d;
    const uint8_t *bytes;
    size_t len;
    uint32_t count;
    const uint8_t *raw; /* the whole encoding of the value, from its constructor */
    size_t raw_len;
};

/* A position in a buffer. */
struct rx_amqp_rd {
    const uint8_t *p, *end;
};

/*
 * Read one value at r->p and move past it. Compound values are not entered: their bytes are
 * given (read them with a new reader; rx_amqp_enter). Returns 0, or HC_E_PARSE (a bad format
 * code, a length past the end, nesting deeper than 32; r is then unchanged).
 */
int rx_amqp_read(struct rx_amqp_rd *r, struct rx_amqp_val *v);

/*
 * A reader over the items of a list or map value v (for an array: rx_amqp_array_next).
 * Returns 0 or HC_E_PARSE when v is not a list or map.
 */
int rx_amqp_enter(const struct rx_amqp_val *v, struct rx_amqp_rd *items);

/*
 * A described value's descriptor as a code: a ulong descriptor gives itself; a symbol one gives 0
 * with *sym set (sym may be NULL). Reads descriptor and value from v (RX_AK_DESCRIBED) into
 * *inner. Returns 0 or HC_E_PARSE.
 */
int rx_amqp_described(const struct rx_amqp_val *v, uint64_t *code, struct rx_amqp_val *sym,
                      struct rx_amqp_val *inner);

/*
 * The elements of an array v: *rd and *ctor are set for rx_amqp_array_next. Returns 0 or
 * HC_E_PARSE.
 */
int rx_amqp_array_begin(const struct rx_amqp_val *v, struct rx_amqp_rd *rd, uint8_t *ctor);
int rx_amqp_array_next(struct rx_amqp_rd *rd, uint8_t ctor, struct rx_amqp_val *out);

/* 1 when v is a string or symbol equal to s (len bytes), compared exactly. */
int rx_amqp_is(const struct rx_amqp_val *v, const char *s);

/* v as a whole number (any integer kind); 0 or HC_E_INVAL. */
int rx_amqp_int(const struct rx_amqp_val *v, int64_t *out);

#endif
