/*
 * fuzz_amqp_cbs.c - the $cbs / $management request parser (receiver/amqp/request.h) and the link
 * address parser (receiver/amqp/address.h) on any bytes. The first byte chooses: even, the rest is
 * a request message (accepted: an operation, every view inside the input; refused: a reason);
 * odd, the rest is an address or audience (accepted: views inside it, a partition from -1 to
 * 1023, a hub unless it names $cbs, $management or the namespace).
 */
#include "common/error.h"
#include "receiver/amqp/address.h"
#include "receiver/amqp/request.h"
#include "tests/fuzz/fuzz.h"

static void view_inside(const struct rx_amqp_str *v, const uint8_t *p, size_t n)
{
    if (v->s)
        FZ_CHECK((const uint8_t *)v->s >= p && (const uint8_t *)v->s + v->len <= p + n);
}

static void request(const uint8_t *p, size_t n)
{
    struct rx_amqp_request r;
    const char *why = NULL;
    int rc = rx_amqp_request_parse(p, n, &r, &why);
    if (rc) {
        FZ_CHECK(rc == HC_E_PARSE && why && *why);
        return;
    }
    FZ_CHECK(r.operation.s != NULL);
    view_inside(&r.operation, p, n);
    view_inside(&r.type, p, n);
    view_inside(&r.name, p, n);
    view_inside(&r.partition, p, n);
    view_inside(&r.security_token, p, n);
    view_inside(&r.token, p, n);
    view_inside(&r.reply_to, p, n);
    if (r.message_id.kind == RX_AK_UUID)
        FZ_CHECK(r.message_id.len == 16);
}

static void address(const uint8_t *p, size_t n)
{
    struct rx_amqp_addr a;
    const char *s = (const char *)p;
    if (rx_amqp_addr_parse(s, n, &a))
        return;
    FZ_CHECK(a.partition >= -1 && a.partition <= 1023);
    FZ_CHECK(a.path >= s && a.path + a.path_len <= s + n);
    if (a.node == RX_AN_HUB || a.node == RX_AN_CONSUMER)
        FZ_CHECK(a.hub && a.hub_len > 0 && a.hub >= s && a.hub + a.hub_len <= s + n);
    if (a.node == RX_AN_CONSUMER)
        FZ_CHECK(a.cg && a.cg_len > 0);
    if (a.host)
        FZ_CHECK(a.host >= s && a.host + a.host_len <= s + n && a.host_len > 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy;
    if (size < 1)
        return 0;
    /* an exact-size copy, so that a read past the end is caught */
    if (!(copy = malloc(size - 1 ? size - 1 : 1)))
        return 0;
    memcpy(copy, data + 1, size - 1);
    if (data[0] & 1)
        address(copy, size - 1);
    else
        request(copy, size - 1);
    free(copy);
    return 0;
}
