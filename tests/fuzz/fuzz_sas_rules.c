/*
 * fuzz_sas_rules.c - who may send or listen (receiver/core/sas_rules.h) on any bytes: the first
 * byte picks the hub, the right and the mode; the rest is "host\npath\ntoken". The resource is
 * built from host and path as a front end does (rx_sas_resource), then:
 *   even: the token as received is checked (refusals say why);
 *   odd:  a token signed with the dev policy's key for that resource must be accepted for it.
 */
#include "common/error.h"
#include "receiver/conf.h"
#include "receiver/core/sas_rules.h"
#include "tests/unit/receiver/sas_rules_conf.h"
#include "tests/fuzz/fuzz.h"

#define NOW 1800000000LL

static struct rx_conf *conf(void)
{
    static struct rx_conf *c;
    if (c)
        return c;
    c = calloc(1, sizeof *c);
    FZ_CHECK(c);
    sas_rules_conf_fill(c);
    return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct rx_conf *c = conf();
    int hub = data[0] & 1;
    unsigned right = data[0] & 2 ? RX_RIGHT_LISTEN : RX_RIGHT_SEND;
    int sign = data[0] & 4;
    char *s = fz_cstr(data + 1, size - 1);
    if (!s)
        return 0;
    char *host = s, *path = strchr(s, '\n'), *tok = NULL;
    if (path) {
        *path++ = '\0';
        if ((tok = strchr(path, '\n')))
            *tok++ = '\0';
    }
    char res[1100];
    char p2[600];
    snprintf(p2, sizeof p2, "/%s", path ? path : "events/messages");
    int n =
        rx_sas_resource(c, data[0] & 8 ? "amqp" : "http", *host ? host : NULL, p2, res, sizeof res);
    FZ_CHECK(n == HC_E_TOOBIG || (n > 0 && (size_t)n == strlen(res)));
    if (n > 0) {
        struct hc_sas_claims cl;
        const char *why = NULL;
        if (sign) {
            struct hc_buf t = HC_BUF_INIT;
            FZ_CHECK(hc_sas_token(res, RX_DEV_RULE, c->rules[0].key, NOW + 60, &t) == 0);
            int rc = rx_sas_check(c, hub, t.p, res, right, NOW, &cl, &why);
            FZ_CHECK(rc == 0 || (size_t)n >= sizeof cl.audience);
            FZ_CHECK(rc != 0 || cl.expiry_s == NOW + 60);
            hc_buf_free(&t);
        } else {
            int rc = rx_sas_check(c, hub, tok, res, right, NOW, &cl, &why);
            FZ_CHECK(rc == 0 || (rc == HC_E_AUTH && why && *why) || rc == -ENOMEM);
        }
    }
    free(s);
    return 0;
}
