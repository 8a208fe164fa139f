/*
 * test_amqp_format.c - the AMQP transport without a network: each event's message decodes with
 * qpid-proton's own decoder (pn_message_decode) to the partition key, the properties and the
 * body; ag_amqp_message_size is exactly what is encoded, in the short and the long forms; error
 * conditions map to the results AMQP.md lists; the contiguous acknowledgement; where the
 * connection string says to connect, and what the token is signed for.
 */
#include <errno.h>
#include <proton/codec.h>
#include <proton/message.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/transport/amqp/amqp_conf.h"
#include "common/error.h"
#include "common/rng.h"
#include "common/uuid.h"

static struct ag_record rec(const char *dev, size_t dev_len, enum hc_kind kind, int schema,
                            const char *json, size_t json_len, uint8_t last)
{
    struct ag_record r;
    memset(&r, 0, sizeof r);
    r.ev.id[0] = 0x01;
    r.ev.id[6] = 0x70;
    r.ev.id[15] = last;
    r.ev.device_id = dev;
    r.ev.device_id_len = dev_len;
    r.ev.kind = kind;
    r.ev.schema = schema;
    r.json = json;
    r.json_len = json_len;
    return r;
}

/* The value of key (string) in the map at the start of d, as text, into out; 0 when absent. */
static int map_text(pn_data_t *d, const char *key, char *out, size_t cap, int *type)
{
    int found = 0;
    pn_data_rewind(d);
    if (!pn_data_next(d) || pn_data_type(d) != PN_MAP)
        return 0;
    pn_data_enter(d);
    while (!found && pn_data_next(d)) {
        int sym = pn_data_type(d) == PN_SYMBOL;
        pn_bytes_t k = sym ? pn_data_get_symbol(d) : pn_data_get_string(d);
        int match = k.size == strlen(key) && !memcmp(k.start, key, k.size);
        if (!pn_data_next(d) || !match)
            continue;
        found = 1;
        *type = pn_data_type(d);
        if (*type == PN_STRING) {
            pn_bytes_t v = pn_data_get_string(d);
            snprintf(out, cap, "%.*s", (int)v.size, v.start);
        } else if (*type == PN_LONG) {
            snprintf(out, cap, "%lld", (long long)pn_data_get_long(d));
        }
    }
    pn_data_exit(d);
    return found;
}

/* Encode r, check the length against message_size, decode with proton and compare. */
static void check_roundtrip(const struct ag_record *r)
{
    struct hc_buf b = HC_BUF_INIT;
    pn_message_t *m = pn_message();
    char v[1024], id[HC_UUID_STRLEN], want[64];
    int type = 0;
    pn_data_t *body;
    assert_int_equal(hc_buf_adds(&b, "x"), 0); /* encode appends */
    assert_int_equal(ag_amqp_message_encode(r, &b), 0);
    assert_int_equal(b.len - 1, ag_amqp_message_size(r));
    assert_int_equal(pn_message_decode(m, b.p + 1, b.len - 1), 0);

    assert_true(map_text(pn_message_annotations(m), "x-opt-partition-key", v, sizeof v, &type));
    assert_int_equal(type, PN_STRING);
    assert_int_equal(strlen(v), r->ev.device_id_len);
    assert_memory_equal(v, r->ev.device_id, r->ev.device_id_len);

    hc_uuid_format(r->ev.id, id);
    assert_true(map_text(pn_message_properties(m), "event_id", v, sizeof v, &type));
    assert_string_equal(v, id);
    assert_true(map_text(pn_message_properties(m), "device_id", v, sizeof v, &type));
    assert_memory_equal(v, r->ev.device_id, r->ev.device_id_len);
    assert_true(map_text(pn_message_properties(m), "kind", v, sizeof v, &type));
    assert_string_equal(v, hc_kind_name(r->ev.kind));
    assert_true(map_text(pn_message_properties(m), "schema", v, sizeof v, &type));
    assert_int_equal(type, PN_LONG);
    snprintf(want, sizeof want, "%d", r->ev.schema);
    assert_string_equal(v, want);

    body = pn_message_body(m);
    pn_data_rewind(body);
    assert_true(pn_data_next(body));
    assert_int_equal(pn_data_type(body), PN_BINARY);
    pn_bytes_t bin = pn_data_get_binary(body);
    assert_int_equal(bin.size, r->json_len);
    assert_memory_equal(bin.start, r->json, r->json_len);
    pn_message_free(m);
    hc_buf_free(&b);
}

static void test_message_decodes_with_proton(void **state)
{
    static const char json[] = "{\"event_id\":\"x\",\"kind\":\"order_line\",\"data\":{\"q\":-1}}";
    struct ag_record r = rec("pi-0007", 7, HC_KIND_ORDER_LINE, 1, json, sizeof json - 1, 1);
    (void)state;
    check_roundtrip(&r);
    r = rec("dev \"q\" \xc3\xa9", 10, HC_KIND_UNKNOWN, 200, json, sizeof json - 1, 2);
    check_roundtrip(&r); /* a long (not smalllong) schema, UTF-8 in the device id */
    r = rec("d", 1, HC_KIND_CAR_LISTING, -7, "", 0, 3);
    check_roundtrip(&r);
}

/* Lengths around every form's limit: str8/str32 (device id), vbin8/vbin32 (body), map8/map32
 * (the properties), sizes always exact. */
static void test_sizes_exact_in_both_forms(void **state)
{
    static char dev[300], body[70000];
    static const size_t devs[] = {1, 127, 128, 200, 253, 254, 255, 256, 299};
    static const size_t bodies[] = {0, 1, 254, 255, 256, 257, 65535, 65536, 69999};
    (void)state;
    memset(dev, 'd', sizeof dev);
    memset(body, 'b', sizeof body);
    for (size_t i = 0; i < sizeof devs / sizeof devs[0]; i++)
        for (size_t j = 0; j < sizeof bodies / sizeof bodies[0]; j++) {
            struct ag_record r =
                rec(dev, devs[i], HC_KIND_ORDER_STATUS, 1 << 20, body, bodies[j], (uint8_t)i);
            check_roundtrip(&r);
        }
}

/* format() is the messages one after the other; record_size is each one's share. */
static void test_format_concatenates(void **state)
{
    static const char j1[] = "{\"a\":1}", j2[] = "{\"b\":\"two\"}";
    struct ag_record r1 = rec("x", 1, HC_KIND_ORDER_LINE, 1, j1, sizeof j1 - 1, 1);
    struct ag_record r2 = rec("yy", 2, HC_KIND_CAR_LISTING, 2, j2, sizeof j2 - 1, 2);
    const struct ag_record *ptrs[2] = {&r1, &r2};
    struct hc_buf all = HC_BUF_INIT, one = HC_BUF_INIT;
    (void)state;
    assert_int_equal(ag_transport_amqp.format(NULL, ptrs, 2, &all), 0);
    assert_int_equal(all.len, ag_transport_amqp.record_size(NULL, &r1) +
                                  ag_transport_amqp.record_size(NULL, &r2));
    assert_int_equal(ag_amqp_message_encode(&r1, &one), 0);
    assert_int_equal(ag_amqp_message_encode(&r2, &one), 0);
    assert_int_equal(one.len, all.len);
    assert_memory_equal(one.p, all.p, all.len);
    hc_buf_free(&all);
    hc_buf_free(&one);
}

/* The conditions of AMQP.md "Dispositions", on a delivery and on a link. */
static void test_condition_mapping(void **state)
{
    static const struct {
        const char *cond;
        enum ag_send_result link_r;
        enum ag_send_why link_why;
        enum ag_send_result dlv_r;
        enum ag_send_why dlv_why;
    } cases[] = {
        {"com.microsoft:server-busy", AG_SEND_RETRY, AG_WHY_THROTTLED, AG_SEND_RETRY,
         AG_WHY_THROTTLED},
        {"com.microsoft:timeout", AG_SEND_RETRY, AG_WHY_SERVER, AG_SEND_RETRY, AG_WHY_SERVER},
        {"amqp:internal-error", AG_SEND_RETRY, AG_WHY_SERVER, AG_SEND_RETRY, AG_WHY_SERVER},
        {"amqp:link:detach-forced", AG_SEND_RETRY, AG_WHY_SERVER, AG_SEND_RETRY, AG_WHY_SERVER},
        {"amqp:connection:forced", AG_SEND_RETRY, AG_WHY_SERVER, AG_SEND_RETRY, AG_WHY_SERVER},
        {"amqp:unauthorized-access", AG_SEND_RETRY, AG_WHY_AUTH, AG_SEND_RETRY, AG_WHY_AUTH},
        {"amqp:link:message-size-exceeded", AG_SEND_REJECT, AG_WHY_SIZE, AG_SEND_REJECT,
         AG_WHY_SIZE},
        {"amqp:not-found", AG_SEND_REJECT, AG_WHY_REFUSED, AG_SEND_REJECT, AG_WHY_SIZE},
        {"amqp:not-allowed", AG_SEND_REJECT, AG_WHY_REFUSED, AG_SEND_REJECT, AG_WHY_SIZE},
        {"amqp:link:stolen", AG_SEND_REJECT, AG_WHY_REFUSED, AG_SEND_REJECT, AG_WHY_SIZE},
        {"amqp:resource-limit-exceeded", AG_SEND_REJECT, AG_WHY_REFUSED, AG_SEND_REJECT,
         AG_WHY_SIZE},
        {"com.microsoft:argument-error", AG_SEND_REJECT, AG_WHY_REFUSED, AG_SEND_REJECT,
         AG_WHY_SIZE},
        {"amqp:decode-error", AG_SEND_REJECT, AG_WHY_REFUSED, AG_SEND_REJECT, AG_WHY_SIZE},
        {"com.example:something-new", AG_SEND_RETRY, AG_WHY_SERVER, AG_SEND_RETRY, AG_WHY_SERVER},
        {"", AG_SEND_RETRY, AG_WHY_SERVER, AG_SEND_RETRY, AG_WHY_SERVER},
    };
    enum ag_send_why why;
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(ag_amqp_condition_result(cases[i].cond, 0, &why), cases[i].link_r);
        assert_int_equal(why, cases[i].link_why);
        assert_int_equal(ag_amqp_condition_result(cases[i].cond, 1, &why), cases[i].dlv_r);
        assert_int_equal(why, cases[i].dlv_why);
    }
    assert_int_equal(ag_amqp_condition_result(NULL, 1, &why), AG_SEND_RETRY);
}

/* Only the leading run of accepted counts; a refused event is named with the run after it. */
static void test_contiguous_prefix(void **state)
{
    enum { P = AG_AMQP_PENDING, A = AG_AMQP_ACCEPTED, R = AG_AMQP_REFUSED, T = AG_AMQP_RETRY };
    static const struct {
        uint8_t o[8];
        size_t n, acked, after;
        int one;
        enum ag_send_result r;
    } cases[] = {
        {{A, A, A}, 3, 3, 0, 0, AG_SEND_OK},
        {{A, A, P, A, A}, 5, 2, 0, 0, AG_SEND_RETRY}, /* accepted after a gap: sent again */
        {{P, A, A}, 3, 0, 0, 0, AG_SEND_RETRY},
        {{A, T, A}, 3, 1, 0, 0, AG_SEND_RETRY},
        {{A, A, R, A, A, P, A}, 7, 2, 2, 1, AG_SEND_REJECT},
        {{R}, 1, 0, 0, 1, AG_SEND_REJECT},
        {{R, R, A}, 3, 0, 0, 1, AG_SEND_REJECT},
        {{A, R, A, A}, 4, 1, 2, 1, AG_SEND_REJECT},
    };
    struct ag_send_status st;
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ag_send_status_reset(&st);
        assert_int_equal(ag_amqp_summarize(cases[i].o, cases[i].n, &st), cases[i].r);
        assert_int_equal(st.result, cases[i].r);
        assert_int_equal(st.acked, cases[i].acked);
        assert_int_equal(st.one, cases[i].one);
        assert_int_equal(st.acked_after, cases[i].after);
        if (cases[i].r == AG_SEND_REJECT)
            assert_int_equal(st.why, AG_WHY_SIZE);
    }
}

static void finish(struct ag_amqp_conf *c, const char *cs, int rc_want, const char **why)
{
    ag_amqp_conf_default(c);
    assert_int_equal(ag_amqp_conf_set(c, "connection_string", cs, why), 0);
    assert_int_equal(ag_amqp_conf_finish(c, why), rc_want);
}

/* Where to connect, with TLS or not, and what the token is signed for. */
static void test_address_from_connection_string(void **state)
{
    static const struct {
        const char *cs;
        const char *host;
        int port, tls;
        const char *audience, *host_port;
    } cases[] = {
        {"Endpoint=sb://Contoso.servicebus.windows.net/;SharedAccessKeyName=s;SharedAccessKey=k;"
         "EntityPath=Orders",
         "contoso.servicebus.windows.net", 5671, 1, "sb://contoso.servicebus.windows.net/orders",
         "contoso.servicebus.windows.net:5671"},
        {"Endpoint=sb://localhost;SharedAccessKeyName=RootManageSharedAccessKey;"
         "SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;EntityPath=eh1",
         "localhost", 5672, 0, "sb://localhost/eh1", "localhost:5672"},
        {"Endpoint=sb://127.0.0.1:8080/;SharedAccessKeyName=s;SharedAccessKey=k;EntityPath=events;"
         "UseDevelopmentEmulator=true",
         "127.0.0.1", 8080, 0, "sb://127.0.0.1/events", "127.0.0.1:8080"},
        {"Endpoint=sb://hub.example:5999/;SharedAccessKeyName=s;SharedAccessKey=k;EntityPath=e",
         "hub.example", 5999, 1, "sb://hub.example/e", "hub.example:5999"},
        {"Endpoint=https://hub.example/;SharedAccessKeyName=s;SharedAccessKey=k;EntityPath=e",
         "hub.example", 5671, 1, "sb://hub.example/e", "hub.example:5671"},
        {"Endpoint=sb://[::1]:5672/;SharedAccessKeyName=s;SharedAccessKey=k;EntityPath=e;"
         "UseDevelopmentEmulator=true",
         "::1", 5672, 0, "sb://[::1]/e", "[::1]:5672"},
    };
    struct ag_amqp_conf c;
    const char *why = NULL;
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        finish(&c, cases[i].cs, 0, &why);
        assert_string_equal(c.host, cases[i].host);
        assert_int_equal(c.port, cases[i].port);
        assert_int_equal(c.tls, cases[i].tls);
        assert_string_equal(c.audience, cases[i].audience);
        assert_string_equal(c.hub.host_port, cases[i].host_port);
        ag_amqp_conf_free(&c);
    }
    finish(&c,
           "Endpoint=http://127.0.0.1:8080/;SharedAccessKeyName=s;SharedAccessKey=k;"
           "EntityPath=e",
           HC_E_INVAL, &why);
    assert_non_null(strstr(why, "UseDevelopmentEmulator=true"));
    ag_amqp_conf_free(&c);
}

static void test_settings(void **state)
{
    struct ag_amqp_conf c;
    const char *why = NULL;
    (void)state;
    ag_amqp_conf_default(&c);
    assert_int_equal(c.idle_timeout_ms, 60000);
    assert_int_equal(ag_amqp_conf_set(&c, "idle_timeout", "0", &why), 0);
    assert_int_equal(c.idle_timeout_ms, 0);
    assert_int_equal(ag_amqp_conf_set(&c, "idle_timeout", "500ms", &why), HC_E_INVAL);
    assert_int_equal(ag_amqp_conf_set(&c, "proxy", "http://p:3128", &why), HC_E_NOTFOUND);
    assert_non_null(strstr(why, "amqp: unknown setting"));
    assert_int_equal(ag_amqp_conf_set(&c, "token_ttl", "1s", &why), HC_E_INVAL);
    assert_int_equal(ag_amqp_conf_set(&c, "token_ttl", "6s", &why), 0);
    assert_int_equal(ag_amqp_conf_set(&c, "connection_string",
                                      "Endpoint=sb://ns/;SharedAccessKeyName=s;"
                                      "SharedAccessKey=k;EntityPath=e",
                                      &why),
                     0);
    assert_int_equal(ag_amqp_conf_finish(&c, &why), 0);
    assert_int_equal(c.hub.token_renew_ms, 2000); /* a third of a short ttl */
    ag_amqp_conf_free(&c);
    ag_amqp_conf_free(NULL);
}

/* init connects to nothing: settings, the first token; a missing CA file is named. */
static void test_init_makes_no_connection(void **state)
{
    struct ag_kv kv[] = {{"connection_string", "Endpoint=sb://nowhere.invalid/;"
                                               "SharedAccessKeyName=s;SharedAccessKey=k;"
                                               "EntityPath=e"},
                         {"ca_file", "/nonexistent/ca.pem"}};
    struct ag_transport_limits lim;
    char err[256];
    void *ctx = NULL;
    (void)state;
    assert_string_equal(ag_transport_amqp.name, "amqp");
    assert_int_equal(ag_transport_amqp.init(kv, 1, NULL, &ctx, err, sizeof err), 0);
    ag_transport_amqp.limits(ctx, &lim);
    assert_int_equal(lim.max_batch_bytes, 1048576);
    assert_int_equal(lim.max_event_bytes, 1048576);
    assert_int_equal(lim.batch_overhead, 0);
    assert_int_equal(ag_transport_amqp.renew_auth(ctx), 0);
    ag_transport_amqp.idle(ctx); /* not connected: nothing */
    ag_transport_amqp.close(ctx);
    ag_transport_amqp.close(NULL);
    assert_int_equal(ag_transport_amqp.init(kv, 2, NULL, &ctx, err, sizeof err), -ENOENT);
    assert_null(ctx);
    assert_string_equal(err, "ca_file /nonexistent/ca.pem: No such file or directory");
}

/* A CBS reply as a hub sends it: correlation-id, then application properties. */
static size_t cbs_reply(char *buf, size_t cap, uint64_t cid, int with_status, int status,
                        const char *desc)
{
    pn_message_t *r = pn_message();
    pn_atom_t id;
    pn_data_t *ap = pn_message_properties(r);
    size_t len = cap;
    id.type = PN_ULONG;
    id.u.as_ulong = cid;
    pn_message_set_correlation_id(r, id);
    pn_data_put_map(ap);
    pn_data_enter(ap);
    if (with_status) {
        pn_data_put_string(ap, pn_bytes(11, "status-code"));
        pn_data_put_int(ap, status);
    }
    if (desc) {
        pn_data_put_symbol(ap, pn_bytes(18, "status-description"));
        pn_data_put_int(ap, 1); /* not a string: ignored */
        pn_data_put_string(ap, pn_bytes(18, "status-description"));
        pn_data_put_string(ap, pn_bytes(strlen(desc), desc));
    }
    pn_data_exit(ap);
    assert_int_equal(pn_message_encode(r, buf, &len), 0);
    pn_message_free(r);
    return len;
}

static void test_cbs_reply(void **state)
{
    (void)state;
    char buf[512], desc[16];
    int status = 7;
    size_t n = cbs_reply(buf, sizeof buf, 42, 1, 401, "token refused, see the logs");
    assert_int_equal(ag_amqp_cbs_reply(buf, n, 41, &status, desc, sizeof desc), 0);
    assert_int_equal(status, 7); /* another put-token's reply: untouched */
    assert_int_equal(ag_amqp_cbs_reply(buf, n, 42, &status, desc, sizeof desc), 1);
    assert_int_equal(status, 401);
    assert_string_equal(desc, "token refused, "); /* cut to fit */
    n = cbs_reply(buf, sizeof buf, 43, 0, 0, NULL);
    assert_int_equal(ag_amqp_cbs_reply(buf, n, 43, &status, desc, sizeof desc), 1);
    assert_int_equal(status, -1); /* no status-code */
    assert_string_equal(desc, "");
    n = cbs_reply(buf, sizeof buf, 44, 1, 202, NULL);
    assert_int_equal(ag_amqp_cbs_reply(buf, n, 44, &status, desc, sizeof desc), 1);
    assert_int_equal(status, 202);
    status = 7;
    assert_int_equal(ag_amqp_cbs_reply("\xff\xff\xff", 3, 44, &status, desc, sizeof desc), 0);
    assert_int_equal(status, 7); /* proton takes junk as a message without sections */
    /* an empty transfer on the $cbs link: refused, where proton's decoder asserted (abort) */
    assert_int_equal(ag_amqp_cbs_reply("", 0, 44, &status, desc, sizeof desc), HC_E_PARSE);
    assert_int_equal(status, 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_decodes_with_proton),
        cmocka_unit_test(test_sizes_exact_in_both_forms),
        cmocka_unit_test(test_format_concatenates),
        cmocka_unit_test(test_condition_mapping),
        cmocka_unit_test(test_contiguous_prefix),
        cmocka_unit_test(test_address_from_connection_string),
        cmocka_unit_test(test_settings),
        cmocka_unit_test(test_cbs_reply),
        cmocka_unit_test(test_init_makes_no_connection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
