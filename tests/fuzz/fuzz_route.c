/*
 * fuzz_route.c - the receiver's request routing (receiver/http/route.h) on any bytes: the first
 * line is a path for rx_route_parse, the second a Content-Type value for rx_content_type. A send
 * route names a hub inside the path, a partition below 100000 or -1, and a publisher of
 * printable ASCII within RX_PUBLISHER_MAX.
 */
#include "receiver/http/route.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fz_cstr(data, size);
    if (!s)
        return 0;
    char *ct = strchr(s, '\n');
    if (ct)
        *ct++ = '\0';
    size_t plen = strlen(s);
    struct rx_route r;
    memset(&r, 0, sizeof r);
    enum rx_route_kind k = rx_route_parse(s, &r);
    FZ_CHECK(k == r.kind && k >= RX_ROUTE_NONE && k <= RX_ROUTE_WEB);
    if (k == RX_ROUTE_SEND) {
        FZ_CHECK(r.hub >= s && r.hub + r.hub_len <= s + plen && r.hub_len > 0);
        FZ_CHECK(r.partition >= -1 && r.partition < 100000);
        if (r.publisher) {
            FZ_CHECK(r.publisher >= s && r.publisher + r.publisher_len <= s + plen);
            FZ_CHECK(r.publisher_len > 0 && r.publisher_len <= RX_PUBLISHER_MAX);
            for (size_t i = 0; i < r.publisher_len; i++)
                FZ_CHECK(r.publisher[i] > 0x20 - 1 && r.publisher[i] < 0x7f);
        }
    }
    enum rx_ctype t = rx_content_type(ct);
    FZ_CHECK(t >= RX_CT_BATCH && t <= RX_CT_BAD);
    free(s);
    return 0;
}
