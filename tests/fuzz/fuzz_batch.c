/*
 * fuzz_batch.c - the REST send body parser (receiver/rest/batch.h) on any bytes. The first byte
 * chooses:
 *   even: the rest is a batch body (rx_batch_parse);
 *   odd:  the rest is a single send: the BrokerProperties header up to the first newline, then
 *         "name:value" property lines up to an empty line, then the body (rx_batch_single; the
 *         second bit asks for the UTF-8 check of a text body).
 * Accepted: at least one event, each inside the batch's memory, partition keys within
 * RX_PKEY_MAX, a properties map; refused: no events and a reason. The batch is reused once
 * (rx_batch_free, rx_batch_init) as the REST front end does.
 */
#include "common/error.h"
#include "receiver/rest/batch.h"
#include "tests/fuzz/fuzz.h"

#define PROPS_MAX 80

static void check(const struct rx_batch *b, int rc, const char *why)
{
    if (rc) {
        FZ_CHECK(rc == HC_E_UTF8 || rc == HC_E_PARSE || rc == HC_E_INVAL || rc == -ENOMEM);
        FZ_CHECK(b->n == 0 && why && *why);
        return;
    }
    FZ_CHECK(b->n >= 1 && b->n <= b->cap);
    FZ_CHECK(rx_batch_bytes(b) >= b->arena.len);
    for (size_t i = 0; i < b->n; i++) {
        const struct rx_event *e = &b->ev[i];
        FZ_CHECK(e->props != NULL && e->props_len > 0);
        FZ_CHECK(!e->pkey || e->pkey_len <= RX_PKEY_MAX);
        if (e->body && e->body_len) {
            volatile uint8_t x = e->body[0] ^ e->body[e->body_len - 1];
            (void)x;
        }
        volatile uint8_t y = e->props[0] ^ e->props[e->props_len - 1];
        (void)y;
    }
}

static void single(struct rx_batch *b, char *s, size_t n, int check_utf8)
{
    struct rx_prop props[PROPS_MAX];
    size_t np = 0;
    char *end = s + n, *broker = s, *p = memchr(s, '\n', n);
    if (!p) {
        const char *why = NULL;
        int rc = rx_batch_single(b, s, n, check_utf8, NULL, NULL, 0, &why);
        check(b, rc, why);
        return;
    }
    *p++ = '\0';
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl || nl == p) {
            p = nl ? nl + 1 : p;
            break;
        }
        *nl = '\0';
        char *colon = strchr(p, ':');
        if (colon && np < PROPS_MAX) {
            *colon = '\0';
            props[np].name = p;
            props[np].value = colon + 1;
            np++;
        }
        p = nl + 1;
    }
    const char *why = NULL;
    int rc = rx_batch_single(b, p, (size_t)(end - p), check_utf8, *broker ? broker : NULL, props,
                             np, &why);
    check(b, rc, why);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct rx_batch b;
    const char *why = NULL;
    char *s = fz_cstr(data + 1, size - 1);
    if (!s)
        return 0;
    for (int round = 0; round < 2; round++) {
        rx_batch_init(&b);
        if (data[0] & 1) {
            single(&b, s, size - 1, (data[0] >> 1) & 1);
            memcpy(s, data + 1, size - 1); /* single() cut it into lines */
        } else {
            int rc = rx_batch_parse(&b, (const char *)data + 1, size - 1, &why);
            check(&b, rc, why);
        }
        rx_batch_free(&b);
    }
    free(s);
    return 0;
}
