/*
 * fuzz_amqp_wire.c - the checker of what AMQP clients send (receiver/amqp/wire.h) on any bytes,
 * and the padding of proton's output on the same bytes. The first byte chooses where the rest is
 * cut in two. Checked: the good count is within the input; cut in two the stream gives the same
 * verdict, and as many good bytes (or, when the cut falls in the bad frame, the bytes before the
 * cut: given before the frame could be judged); a stream found good, once padded, is still good
 * and no shorter, and padding it again changes nothing.
 */
#include "receiver/amqp/wire.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rx_amqp_wire_in w1, w2;
    struct rx_amqp_wire_out o1 = {0}, o2 = {0};
    struct hc_buf out = {0}, again = {0};
    const char *why1 = NULL, *why2 = NULL;
    size_t g1, g2, cut;
    if (!size)
        return 0;
    cut = data[0] % size;
    data++;
    size--;
    cut = cut < size ? cut : size;
    rx_amqp_wire_in_init(&w1, 65536);
    rx_amqp_wire_in_init(&w2, 65536);
    g1 = rx_amqp_wire_check(&w1, data, size, &why1);
    FZ_CHECK(g1 <= size);
    FZ_CHECK(why1 ? g1 < size || w1.bad : g1 == size);
    g2 = rx_amqp_wire_check(&w2, data, cut, &why2);
    if (!why2)
        g2 += rx_amqp_wire_check(&w2, data + cut, size - cut, &why2);
    FZ_CHECK(!why1 == !why2);
    FZ_CHECK(g2 == g1 || (why1 && g2 == cut && cut > g1));
    if (!why1 && !rx_amqp_wire_pad(&o1, data, size, &out)) {
        struct rx_amqp_wire_in w3;
        const char *why3 = NULL;
        FZ_CHECK(out.len >= size - o1.h.len);
        rx_amqp_wire_in_init(&w3, UINT32_MAX);
        FZ_CHECK(rx_amqp_wire_check(&w3, (const uint8_t *)out.p, out.len, &why3) == out.len);
        FZ_CHECK(!why3);
        if (!rx_amqp_wire_pad(&o2, (const uint8_t *)out.p, out.len, &again) && !o1.h.len)
            FZ_CHECK(again.len == out.len && (!out.len || !memcmp(again.p, out.p, out.len)));
        rx_amqp_wire_in_free(&w3);
    }
    rx_amqp_wire_in_free(&w1);
    rx_amqp_wire_in_free(&w2);
    rx_amqp_wire_out_free(&o1);
    rx_amqp_wire_out_free(&o2);
    hc_buf_free(&out);
    hc_buf_free(&again);
    return 0;
}
