/*
 * test_amqp_wire.c - the AMQP byte stream around proton (receiver/amqp/wire.h). Out: performatives
 * as proton 0.37 writes them (trailing fields left out, list8, list0) come out whole with the
 * specification's defaults, values already there unchanged, payloads kept, other frames, SASL
 * frames, protocol headers and a frame that would outgrow the peer's max-frame-size untouched; the
 * same whatever the split of the stream (every cut point, byte by byte); and a real proton client
 * (a transport pair in memory) opens, attaches, sends and gets its disposition through the padding.
 * In: a valid stream is good at every split; each kind of malformed frame is found at its first
 * byte with a reason, whatever came before.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <proton/connection.h>
#include <proton/delivery.h>
#include <proton/link.h>
#include <proton/session.h>
#include <proton/transport.h>

#include "common/buf.h"
#include "receiver/amqp/codec.h"
#include "receiver/amqp/wire.h"

/* ---- Frames by hand ------------------------------------------------------------------------- */

/* A frame of type t on channel 0: body b (n bytes). */
static void frame(struct hc_buf *o, int t, const void *b, size_t n)
{
    uint8_t h[8] = {0, 0, 0, 0, 2, (uint8_t)t, 0, 0};
    uint32_t size = (uint32_t)(n + 8);
    h[0] = (uint8_t)(size >> 24);
    h[1] = (uint8_t)(size >> 16);
    h[2] = (uint8_t)(size >> 8);
    h[3] = (uint8_t)size;
    assert_int_equal(hc_buf_add(o, h, 8), 0);
    assert_int_equal(hc_buf_add(o, b, n), 0);
}

#define FR(o, t, ...)                                                                              \
    do {                                                                                           \
        static const uint8_t b_[] = {__VA_ARGS__};                                                 \
        frame(o, t, b_, sizeof b_);                                                                \
    } while (0)

/* What proton writes (seen on the wire): open, begin, attach, flow, transfer, disposition, close.
 */
static void proton_stream(struct hc_buf *o)
{
    assert_int_equal(hc_buf_add(o, "AMQP\x03\x01\x00\x00", 8), 0);
    /* sasl-mechanisms: an array of symbols (type 1, untouched) */
    FR(o, 1, 0x00, 0x53, 0x40, 0xc0, 0x0b, 0x01, 0xe0, 0x08, 0x01, 0xa3, 0x05, 'P', 'L', 'A', 'I',
       'N');
    FR(o, 1, 0x00, 0x53, 0x44, 0xc0, 0x03, 0x01, 0x50, 0x00); /* sasl-outcome ok */
    assert_int_equal(hc_buf_add(o, "AMQP\x00\x01\x00\x00", 8), 0);
    /* open: container-id "c", null hostname, max-frame 65536, channel-max 32767, idle 1000 */
    FR(o, 0, 0x00, 0x53, 0x10, 0xc0, 0x12, 0x05, 0xa1, 0x01, 'c', 0x40, 0x70, 0x00, 0x01, 0x00,
       0x00, 0x60, 0x7f, 0xff, 0x70, 0x00, 0x00, 0x03, 0xe8);
    /* begin: remote-channel 0, next-outgoing-id 0, windows (4 fields) */
    FR(o, 0, 0x00, 0x53, 0x11, 0xc0, 0x0f, 0x04, 0x60, 0x00, 0x00, 0x43, 0x70, 0x00, 0x00, 0x00,
       0x80, 0x70, 0x7f, 0xff, 0xff, 0xff);
    /* attach: name "l", handle 0, role true, modes, source null, target null, 0x40 0x40, 0x42,
     * initial-delivery-count 0, max-message-size 1048576 (11 fields) */
    FR(o, 0, 0x00, 0x53, 0x12, 0xc0, 0x14, 0x0b, 0xa1, 0x01, 'l', 0x43, 0x41, 0x50, 0x02, 0x50,
       0x00, 0x40, 0x40, 0x40, 0x42, 0x43, 0x70, 0x00, 0x10, 0x00, 0x00);
    /* flow: 7 fields */
    FR(o, 0, 0x00, 0x53, 0x13, 0xc0, 0x0d, 0x07, 0x43, 0x70, 0x00, 0x00, 0x01, 0x00, 0x43, 0x43,
       0x43, 0x43, 0x52, 0x10);
    /* transfer: handle 0, delivery-id 1, tag "t", format 0, settled true; payload "PAY" */
    FR(o, 0, 0x00, 0x53, 0x14, 0xc0, 0x09, 0x05, 0x43, 0x52, 0x01, 0xa0, 0x01, 't', 0x43, 0x41, 'P',
       'A', 'Y');
    /* disposition: role true, first 1, last 1, settled true, accepted (5 fields) */
    FR(o, 0, 0x00, 0x53, 0x15, 0xc0, 0x0b, 0x05, 0x41, 0x52, 0x01, 0x52, 0x01, 0x41, 0x00, 0x53,
       0x24, 0x45);
    frame(o, 0, "", 0);                                 /* an empty frame (heartbeat) */
    FR(o, 0, 0x00, 0x53, 0x16, 0xc0, 0x02, 0x01, 0x43); /* detach: handle only */
    FR(o, 0, 0x00, 0x53, 0x18, 0x45);                   /* close: list0 */
}

/* The performatives of a stream: frame type, code, field count, payload (by index). */
struct perf {
    int type, code, count;
    const uint8_t *payload;
    size_t payload_len;
    const uint8_t *fields;
    size_t fields_len;
};

static int perfs(const uint8_t *p, size_t n, struct perf *out, int max)
{
    int k = 0;
    while (n) {
        uint32_t size;
        assert_true(n >= 8);
        if (!memcmp(p, "AMQP", 4)) {
            p += 8;
            n -= 8;
            continue;
        }
        size = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        assert_true(size >= 8 && size <= n);
        if (size > p[4] * 4u) {
            struct rx_amqp_rd r = {p + p[4] * 4u, p + size};
            struct rx_amqp_val d, list, code;
            uint64_t c;
            assert_int_equal(rx_amqp_read(&r, &d), 0);
            assert_int_equal(rx_amqp_described(&d, &c, NULL, &list), 0);
            (void)code;
            assert_true(k < max);
            out[k].type = p[5];
            out[k].code = (int)c;
            out[k].count = (int)list.count;
            out[k].fields = list.bytes;
            out[k].fields_len = list.len;
            out[k].payload = r.p;
            out[k].payload_len = (size_t)(r.end - r.p);
            assert_int_equal(rx_amqp_wire_value_ok(list.raw, list.raw_len), 0);
            k++;
        }
        p += size;
        n -= size;
    }
    return k;
}

/* The i-th field of a performative. */
static struct rx_amqp_val field(const struct perf *f, int i)
{
    struct rx_amqp_rd r = {f->fields, f->fields + f->fields_len};
    struct rx_amqp_val v;
    for (int k = 0; k <= i; k++)
        assert_int_equal(rx_amqp_read(&r, &v), 0);
    return v;
}

static void test_pad_whole(void **state)
{
    struct hc_buf in = {0}, out = {0};
    struct rx_amqp_wire_out w = {0};
    struct perf a[16], b[16];
    int n;
    (void)state;
    proton_stream(&in);
    assert_int_equal(rx_amqp_wire_pad(&w, (const uint8_t *)in.p, in.len, &out), 0);
    assert_int_equal(w.h.len, 0);
    n = perfs((const uint8_t *)in.p, in.len, a, 16);
    assert_int_equal(perfs((const uint8_t *)out.p, out.len, b, 16), n);
    for (int i = 0; i < n; i++) {
        static const int want[9] = {10, 8, 14, 11, 11, 6, 3, 1, 1};
        assert_int_equal(b[i].type, a[i].type);
        assert_int_equal(b[i].code, a[i].code);
        if (a[i].type == 1) { /* SASL: as it was */
            assert_int_equal(b[i].count, a[i].count);
            continue;
        }
        assert_int_equal(b[i].count, want[a[i].code - 0x10]);
        /* the fields proton wrote come first, byte for byte; the payload stays */
        assert_true(b[i].fields_len >= a[i].fields_len);
        assert_memory_equal(b[i].fields, a[i].fields, a[i].fields_len);
        assert_int_equal(b[i].payload_len, a[i].payload_len);
        if (a[i].payload_len)
            assert_memory_equal(b[i].payload, a[i].payload, a[i].payload_len);
    }
    /* the defaults pyamqp reads: begin handle-max, attach properties, open max-frame kept */
    for (int i = 0; i < n; i++) {
        struct rx_amqp_val v;
        if (b[i].type == 0 && b[i].code == 0x11) {
            v = field(&b[i], 4);
            assert_int_equal(v.kind, RX_AK_UINT);
            assert_true(v.u == 0xffffffffu);
        } else if (b[i].type == 0 && b[i].code == 0x12) {
            v = field(&b[i], 13);
            assert_int_equal(v.kind, RX_AK_MAP);
            assert_int_equal(v.count, 0);
            v = field(&b[i], 10); /* max-message-size as proton wrote it */
            assert_true(v.u == 1048576);
        } else if (b[i].type == 0 && b[i].code == 0x14) {
            v = field(&b[i], 5); /* more: false */
            assert_int_equal(v.kind, RX_AK_BOOL);
            assert_int_equal(v.u, 0);
            assert_memory_equal(b[i].payload, "PAY", 3);
        } else if (b[i].type == 0 && b[i].code == 0x10) {
            v = field(&b[i], 2);
            assert_true(v.u == 65536);
        }
    }
    /* padded output is a valid stream, and padding it again changes nothing */
    {
        struct rx_amqp_wire_in ck;
        struct rx_amqp_wire_out w2 = {0};
        struct hc_buf again = {0};
        const char *why = NULL;
        rx_amqp_wire_in_init(&ck, 65536);
        assert_int_equal(rx_amqp_wire_check(&ck, (const uint8_t *)out.p, out.len, &why), out.len);
        assert_null(why);
        assert_int_equal(rx_amqp_wire_pad(&w2, (const uint8_t *)out.p, out.len, &again), 0);
        assert_int_equal(again.len, out.len);
        assert_memory_equal(again.p, out.p, out.len);
        rx_amqp_wire_in_free(&ck);
        rx_amqp_wire_out_free(&w2);
        hc_buf_free(&again);
    }
    rx_amqp_wire_out_free(&w);
    hc_buf_free(&in);
    hc_buf_free(&out);
}

/* Every split of the stream in two, and byte by byte: the same output. */
static void test_pad_every_split(void **state)
{
    struct hc_buf in = {0}, whole = {0};
    struct rx_amqp_wire_out w = {0};
    (void)state;
    proton_stream(&in);
    assert_int_equal(rx_amqp_wire_pad(&w, (const uint8_t *)in.p, in.len, &whole), 0);
    rx_amqp_wire_out_free(&w);
    for (size_t cut = 0; cut <= in.len; cut++) {
        struct rx_amqp_wire_out ws = {0};
        struct hc_buf out = {0};
        assert_int_equal(rx_amqp_wire_pad(&ws, (const uint8_t *)in.p, cut, &out), 0);
        assert_true(out.len <= whole.len);
        assert_memory_equal(out.p, whole.p, out.len); /* a prefix: nothing out of order */
        assert_int_equal(rx_amqp_wire_pad(&ws, (const uint8_t *)in.p + cut, in.len - cut, &out), 0);
        assert_int_equal(out.len, whole.len);
        assert_memory_equal(out.p, whole.p, whole.len);
        assert_int_equal(ws.h.len, 0);
        rx_amqp_wire_out_free(&ws);
        hc_buf_free(&out);
    }
    {
        struct rx_amqp_wire_out ws = {0};
        struct hc_buf out = {0};
        for (size_t i = 0; i < in.len; i++)
            assert_int_equal(rx_amqp_wire_pad(&ws, (const uint8_t *)in.p + i, 1, &out), 0);
        assert_int_equal(out.len, whole.len);
        assert_memory_equal(out.p, whole.p, whole.len);
        rx_amqp_wire_out_free(&ws);
        hc_buf_free(&out);
    }
    hc_buf_free(&in);
    hc_buf_free(&whole);
}

/* A frame that padding would grow past the peer's max-frame-size stays as it is. */
static void test_pad_brim(void **state)
{
    struct hc_buf in = {0}, out = {0};
    struct rx_amqp_wire_out w = {0};
    (void)state;
    /* a transfer of 5 fields and a payload: 8 + 11 + 3 = 22 bytes; padded it would be more */
    FR(&in, 0, 0x00, 0x53, 0x14, 0xc0, 0x09, 0x05, 0x43, 0x52, 0x01, 0xa0, 0x01, 't', 0x43, 0x41,
       'P', 'A', 'Y');
    w.max_frame = (uint32_t)in.len;
    assert_int_equal(rx_amqp_wire_pad(&w, (const uint8_t *)in.p, in.len, &out), 0);
    assert_int_equal(out.len, in.len);
    assert_memory_equal(out.p, in.p, in.len);
    w.max_frame = 512; /* room: padded */
    hc_buf_reset(&out);
    assert_int_equal(rx_amqp_wire_pad(&w, (const uint8_t *)in.p, in.len, &out), 0);
    assert_true(out.len > in.len);
    rx_amqp_wire_out_free(&w);
    hc_buf_free(&in);
    hc_buf_free(&out);
}

/* Written as null, begin's handle-max and attach's properties get their defaults (pyamqp). */
static void test_pad_nulls(void **state)
{
    struct hc_buf in = {0}, out = {0};
    struct rx_amqp_wire_out w = {0};
    struct perf b[4];
    struct rx_amqp_val v;
    (void)state;
    /* begin of 8 fields, handle-max null */
    FR(&in, 0, 0x00, 0x53, 0x11, 0xc0, 0x0d, 0x08, 0x60, 0x00, 0x00, 0x43, 0x52, 0x10, 0x52, 0x10,
       0x40, 0x40, 0x40, 0x40);
    /* attach of 14 fields, properties null, then nothing after */
    FR(&in, 0, 0x00, 0x53, 0x12, 0xc0, 0x13, 0x0e, 0xa1, 0x01, 'l', 0x43, 0x41, 0x50, 0x02, 0x50,
       0x00, 0x40, 0x40, 0x40, 0x42, 0x43, 0x40, 0x40, 0x40, 0x40);
    assert_int_equal(rx_amqp_wire_pad(&w, (const uint8_t *)in.p, in.len, &out), 0);
    assert_int_equal(perfs((const uint8_t *)out.p, out.len, b, 4), 2);
    assert_int_equal(b[0].count, 8);
    v = field(&b[0], 4);
    assert_true(v.kind == RX_AK_UINT && v.u == 0xffffffffu);
    v = field(&b[0], 2); /* the rest as it was */
    assert_true(v.kind == RX_AK_UINT && v.u == 0x10);
    v = field(&b[0], 7);
    assert_int_equal(v.kind, RX_AK_NULL);
    assert_int_equal(b[1].count, 14);
    v = field(&b[1], 13);
    assert_true(v.kind == RX_AK_MAP && v.count == 0);
    v = field(&b[1], 0);
    assert_true(v.kind == RX_AK_STRING && v.len == 1 && v.bytes[0] == 'l');
    v = field(&b[1], 12);
    assert_int_equal(v.kind, RX_AK_NULL);
    rx_amqp_wire_out_free(&w);
    hc_buf_free(&in);
    hc_buf_free(&out);
}

/* ---- In ------------------------------------------------------------------------------------- */

static void test_check_valid_every_split(void **state)
{
    struct hc_buf in = {0};
    (void)state;
    proton_stream(&in);
    /* a transfer with a large payload and an extended header */
    {
        uint8_t big[8 + 4 + 12 + 5000] = {0};
        uint32_t size = sizeof big;
        static const uint8_t perf[] = {0x00, 0x53, 0x14, 0xc0, 0x08, 0x05, 0x43,
                                       0x43, 0xa0, 0x01, 'x',  0x43, 0x42};
        big[0] = (uint8_t)(size >> 24);
        big[1] = (uint8_t)(size >> 16);
        big[2] = (uint8_t)(size >> 8);
        big[3] = (uint8_t)size;
        big[4] = 3; /* doff 3: 4 bytes of extended header */
        memcpy(big + 12, perf, sizeof perf);
        assert_int_equal(hc_buf_add(&in, big, sizeof big), 0);
    }
    for (size_t cut = 0; cut <= in.len; cut++) {
        struct rx_amqp_wire_in w;
        const char *why = NULL;
        rx_amqp_wire_in_init(&w, 65536);
        assert_int_equal(rx_amqp_wire_check(&w, (const uint8_t *)in.p, cut, &why), cut);
        assert_int_equal(rx_amqp_wire_check(&w, (const uint8_t *)in.p + cut, in.len - cut, &why),
                         in.len - cut);
        assert_null(why);
        assert_int_equal(w.h.len, 0);
        assert_int_equal(w.skip, 0);
        rx_amqp_wire_in_free(&w);
    }
    {
        struct rx_amqp_wire_in w;
        const char *why = NULL;
        rx_amqp_wire_in_init(&w, 65536);
        for (size_t i = 0; i < in.len; i++)
            assert_int_equal(rx_amqp_wire_check(&w, (const uint8_t *)in.p + i, 1, &why), 1);
        assert_null(why);
        rx_amqp_wire_in_free(&w);
    }
    hc_buf_free(&in);
}

/* A good prefix, then bad: found at the bad frame's first byte, at every split. */
static void bad_case(const uint8_t *bad, size_t bad_len, uint32_t max_frame, const char *want)
{
    struct hc_buf in = {0};
    size_t good_len;
    proton_stream(&in);
    in.len -= 12; /* without the close */
    good_len = in.len;
    assert_int_equal(hc_buf_add(&in, bad, bad_len), 0);
    assert_int_equal(hc_buf_add(&in, "\0\0\0\x08\x02\0\0\0", 8), 0); /* never reached */
    for (size_t cut = 0; cut <= in.len; cut++) {
        struct rx_amqp_wire_in w;
        const char *why = NULL;
        size_t got, a = cut < in.len ? cut : in.len;
        rx_amqp_wire_in_init(&w, max_frame);
        got = rx_amqp_wire_check(&w, (const uint8_t *)in.p, a, &why);
        if (!why)
            got += rx_amqp_wire_check(&w, (const uint8_t *)in.p + a, in.len - a, &why);
        assert_non_null(why);
        if (!strstr(why, want))
            fail_msg("'%s' does not say '%s'", why, want);
        /* good up to the bad frame; a first part of it given before it could be judged is
         * harmless (proton waits for the rest of a frame, and none comes) */
        if (got != good_len && !(cut > good_len && got == cut))
            fail_msg("cut %zu: %zu bytes good, want %zu", cut, got, good_len);
        /* nothing more is good */
        assert_int_equal(rx_amqp_wire_check(&w, (const uint8_t *)in.p, 8, &why), 0);
        rx_amqp_wire_in_free(&w);
    }
    hc_buf_free(&in);
}

static void test_check_bad(void **state)
{
    (void)state;
    /* not described */
    bad_case((const uint8_t *)"\0\0\0\x0d\x02\0\0\0\x70\0\0\0\x01", 13, 65536,
             "not a described performative");
    /* an unknown performative */
    bad_case((const uint8_t *)"\0\0\0\x0c\x02\0\0\0\x00\x53\x33\x45", 12, 65536,
             "unknown AMQP performative 0x33");
    /* a SASL code in an AMQP frame */
    bad_case((const uint8_t *)"\0\0\0\x0c\x02\0\0\0\x00\x53\x41\x45", 12, 65536,
             "unknown AMQP performative 0x41");
    /* a list whose size runs past the frame */
    bad_case((const uint8_t *)"\0\0\0\x0f\x02\0\0\0\x00\x53\x11\xc0\x10\x05\x41", 15, 65536,
             "begin longer than its frame");
    /* a list whose values are not what its header says: count 3, one value */
    bad_case((const uint8_t *)"\0\0\0\x0f\x02\0\0\0\x00\x53\x11\xc0\x02\x03\x43", 15, 65536,
             "malformed begin");
    /* an unknown format code inside */
    bad_case((const uint8_t *)"\0\0\0\x0f\x02\0\0\0\x00\x53\x13\xc0\x02\x01\xff", 15, 65536,
             "malformed flow");
    /* a string past its list */
    bad_case((const uint8_t *)"\0\0\0\x11\x02\0\0\0\x00\x53\x12\xc0\x04\x01\xa1\x09"
                              "ab",
             17, 65536, "malformed attach");
    /* fields that are not a list */
    bad_case((const uint8_t *)"\0\0\0\x0d\x02\0\0\0\x00\x53\x10\xa1\x00", 13, 65536,
             "open fields that are not a list");
    /* frame sizes */
    bad_case((const uint8_t *)"\0\0\0\x04\x02\0\0\0", 8, 65536, "frame size of 4");
    bad_case((const uint8_t *)"\0\x01\0\x01\x02\0\0\0", 8, 65536,
             "a frame of 65537 bytes (over max-frame-size 65536)");
    bad_case((const uint8_t *)"\0\0\0\x08\x01\0\0\0", 8, 65536, "data offset of 1");
    bad_case((const uint8_t *)"\0\0\0\x08\x03\0\0\0", 8, 65536, "data offset of 3");
    bad_case((const uint8_t *)"\0\0\0\x0c\x02\x07\0\0\x00\x53\x10\x45", 12, 65536, "frame type 7");
    /* a descriptor that is not a ulong */
    bad_case((const uint8_t *)"\0\0\0\x0e\x02\0\0\0\x00\xa3\x01x\x45\x45", 14, 65536,
             "descriptor is not a ulong");
}

/* Deep nesting, built properly: lists of one list, 40 deep. */
static void test_check_deep(void **state)
{
    uint8_t v[3 * 40 + 1];
    size_t n = sizeof v;
    (void)state;
    for (int i = 0; i < 40; i++) {
        size_t inner = n - 3 * (size_t)(i + 1);
        v[3 * i] = 0xc0;
        v[3 * i + 1] = (uint8_t)(inner + 1);
        v[3 * i + 2] = 1;
    }
    v[n - 1] = 0x40;
    assert_int_equal(rx_amqp_wire_value_ok(v + 3 * 10, n - 3 * 10), 0); /* 30 deep: fine */
    assert_int_not_equal(rx_amqp_wire_value_ok(v, n), 0);               /* 40 deep: refused */
    /* an array of nulls claiming 4 billion elements: refused, at once */
    assert_int_not_equal(
        rx_amqp_wire_value_ok((const uint8_t *)"\xf0\0\0\0\x05\xff\xff\xff\xff\x40", 10), 0);
}

/* ---- A real proton client through the padding ----------------------------------------------- */

/* Move bytes from a's output to b's input (through pad or check). Returns bytes moved. */
static size_t pump(pn_transport_t *a, pn_transport_t *b, struct rx_amqp_wire_out *pad,
                   struct rx_amqp_wire_in *ck)
{
    ssize_t n = pn_transport_pending(a);
    struct hc_buf o = {0};
    size_t moved = 0;
    if (n <= 0)
        return 0;
    if (pad) {
        assert_int_equal(
            rx_amqp_wire_pad(pad, (const uint8_t *)pn_transport_head(a), (size_t)n, &o), 0);
    } else {
        const char *why = NULL;
        assert_int_equal(
            rx_amqp_wire_check(ck, (const uint8_t *)pn_transport_head(a), (size_t)n, &why),
            (size_t)n);
        assert_int_equal(hc_buf_add(&o, pn_transport_head(a), (size_t)n), 0);
    }
    pn_transport_pop(a, (size_t)n);
    while (moved < o.len) {
        ssize_t cap = pn_transport_capacity(b);
        size_t k;
        assert_true(cap > 0);
        k = (size_t)cap < o.len - moved ? (size_t)cap : o.len - moved;
        memcpy(pn_transport_tail(b), o.p + moved, k);
        assert_int_equal(pn_transport_process(b, k), 0);
        moved += k;
    }
    hc_buf_free(&o);
    return (size_t)n;
}

static void test_proton_through_pad(void **state)
{
    pn_connection_t *cc = pn_connection(), *sc = pn_connection();
    pn_transport_t *ct = pn_transport(), *st = pn_transport();
    struct rx_amqp_wire_out pad = {0};
    struct rx_amqp_wire_in ck;
    pn_session_t *cs;
    pn_link_t *snd, *rcv = NULL;
    pn_delivery_t *dl;
    (void)state;
    rx_amqp_wire_in_init(&ck, 65536);
    pn_transport_set_server(st);
    pn_transport_bind(ct, cc);
    pn_transport_bind(st, sc);
    pn_connection_set_container(cc, "client");
    pn_connection_open(cc);
    cs = pn_session(cc);
    pn_session_open(cs);
    snd = pn_sender(cs, "l");
    pn_terminus_set_address(pn_link_target(snd), "events");
    pn_link_open(snd);
    for (int round = 0; round < 50; round++) {
        pn_session_t *ss;
        pump(ct, st, NULL, &ck);
        if (pn_connection_state(sc) & PN_LOCAL_UNINIT)
            pn_connection_open(sc);
        for (ss = pn_session_head(sc, PN_LOCAL_UNINIT); ss;
             ss = pn_session_head(sc, PN_LOCAL_UNINIT))
            pn_session_open(ss);
        if (!rcv && (rcv = pn_link_head(sc, PN_LOCAL_UNINIT))) {
            pn_terminus_copy(pn_link_target(rcv), pn_link_remote_target(rcv));
            pn_link_set_max_message_size(rcv, 1048576);
            pn_link_open(rcv);
            pn_link_flow(rcv, 10);
        }
        if (rcv && (dl = pn_link_current(rcv)) && !pn_delivery_partial(dl)) {
            char buf[16];
            assert_int_equal(pn_link_recv(rcv, buf, sizeof buf), 5);
            assert_memory_equal(buf, "hello", 5);
            pn_link_advance(rcv);
            pn_delivery_update(dl, PN_ACCEPTED);
            pn_delivery_settle(dl);
        }
        pump(st, ct, &pad, NULL);
        if (round == 5) {
            assert_true(pn_link_credit(snd) == 10);
            assert_true(pn_link_remote_max_message_size(snd) == 1048576);
            dl = pn_delivery(snd, pn_dtag("t", 1));
            pn_link_send(snd, "hello", 5);
            pn_link_advance(snd);
        }
    }
    dl = pn_unsettled_head(snd);
    assert_non_null(dl);
    assert_true(pn_delivery_remote_state(dl) == PN_ACCEPTED);
    assert_false(pn_condition_is_set(pn_transport_condition(ct)));
    assert_false(pn_condition_is_set(pn_transport_condition(st)));
    pn_transport_unbind(ct);
    pn_transport_unbind(st);
    pn_transport_free(ct);
    pn_transport_free(st);
    pn_connection_free(cc);
    pn_connection_free(sc);
    rx_amqp_wire_out_free(&pad);
    rx_amqp_wire_in_free(&ck);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pad_whole),
        cmocka_unit_test(test_pad_every_split),
        cmocka_unit_test(test_pad_brim),
        cmocka_unit_test(test_pad_nulls),
        cmocka_unit_test(test_check_valid_every_split),
        cmocka_unit_test(test_check_bad),
        cmocka_unit_test(test_check_deep),
        cmocka_unit_test(test_proton_through_pad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
