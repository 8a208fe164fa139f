/*
 * fuzz_amqp_batch.c - the AMQP front end's delivery decoder (receiver/amqp/message.h) on any
 * bytes: a delivery's raw payload, one message or a batch (format 0x80013700). Accepted: at least
 * one event, each body inside the input or the decoder's arena, a partition key within
 * RX_PKEY_MAX and inside the input, a properties map; refused: a known code and a reason. The
 * decoder is reused once, as a link reuses it for its next delivery.
 */
#include "common/error.h"
#include "receiver/amqp/message.h"
#include "tests/fuzz/fuzz.h"

static int inside(const uint8_t *p, size_t n, const uint8_t *lo, size_t len)
{
    return p >= lo && p + n <= lo + len;
}

static void check(const struct rx_amqp_events *e, const uint8_t *data, size_t size, int rc,
                  const char *why)
{
    const uint8_t *arena = (const uint8_t *)e->arena.p;
    if (rc) {
        FZ_CHECK(rc == HC_E_PARSE || rc == HC_E_INVAL || rc == -ENOMEM);
        FZ_CHECK(why && *why);
        return;
    }
    FZ_CHECK(e->n >= 1 && e->n <= e->cap);
    for (size_t i = 0; i < e->n; i++) {
        const struct rx_event *ev = &e->ev[i];
        FZ_CHECK(ev->props && ev->props_len > 0 &&
                 inside(ev->props, ev->props_len, arena, e->arena.len));
        FZ_CHECK(!ev->pkey || (ev->pkey_len <= RX_PKEY_MAX &&
                               inside((const uint8_t *)ev->pkey, ev->pkey_len, data, size)));
        if (ev->body)
            FZ_CHECK(inside(ev->body, ev->body_len, data, size) ||
                     inside(ev->body, ev->body_len, arena, e->arena.len));
        else
            FZ_CHECK(ev->body_len == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rx_amqp_events e;
    rx_amqp_events_init(&e);
    for (int round = 0; round < 2; round++) {
        const char *why = NULL;
        int rc = rx_amqp_events_decode(&e, data, size, &why);
        check(&e, data, size, rc, why);
    }
    rx_amqp_events_free(&e);
    return 0;
}
