/*
 * test_sas_rules.c - who may send: tokens made the way the agent makes them (common/sas.h,
 * from the connection string the receiver prints) are accepted; forged, expired, wrong-audience,
 * unknown-policy and listen-only tokens get 401 with the reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/connstr.h"
#include "common/error.h"
#include "common/sas.h"
#include "receiver/conf.h"
#include "receiver/core/sas_rules.h"
#include "tests/unit/receiver/sas_rules_conf.h"

#define NOW 1800000000LL

static struct rx_conf *conf_with_rules(void)
{
    struct rx_conf *c = calloc(1, sizeof *c);
    sas_rules_conf_fill(c);
    return c;
}

static char *token(const char *uri, const char *name, const char *key, int64_t expiry)
{
    struct hc_buf b = HC_BUF_INIT;
    assert_int_equal(hc_sas_token(uri, name, key, expiry, &b), 0);
    return b.p;
}

static int check(struct rx_conf *c, int hub, const char *tok, const char *resource,
                 const char **why)
{
    return rx_sas_check(c, hub, tok, resource, RX_RIGHT_SEND, NOW, NULL, why);
}

/* The agent's view: parse the printed connection string, sign for its audience, send. */
static void test_agent_connection_string(void **state)
{
    struct rx_conf *c = conf_with_rules();
    struct hc_connstr cs;
    char s[1024], aud[1024], res[1024];
    const char *why = NULL;
    (void)state;
    c->port = 8080;
    assert_true(rx_conf_connstr(c, 8080, 1, s, sizeof s) > 0);
    assert_string_equal(s, "Endpoint=sb://127.0.0.1:8080/;SharedAccessKeyName="
                           "RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;"
                           "EntityPath=events;UseDevelopmentEmulator=true");
    assert_int_equal(hc_connstr_parse(s, NULL, &cs, &why), 0);
    assert_int_equal(cs.scheme, HC_SCHEME_HTTP);
    assert_int_equal(hc_connstr_port(&cs), 8080);
    assert_true(hc_connstr_audience(&cs, NULL, aud, sizeof aud) > 0);
    assert_string_equal(aud, "http://127.0.0.1/events");
    char *tok = token(aud, cs.key_name, cs.key, NOW + 3600);
    /* the agent posts to http://127.0.0.1:8080/events/messages: Host carries the port */
    assert_true(rx_sas_resource(c, "http", "127.0.0.1:8080", "/events/messages", res, sizeof res) >
                0);
    assert_string_equal(res, "http://127.0.0.1:8080/events/messages");
    assert_int_equal(check(c, 0, tok, res, &why), 0);
    /* the key is not printed unless asked */
    assert_true(rx_conf_connstr(c, 8080, 0, s, sizeof s) > 0);
    assert_null(strstr(s, "SAS_KEY_VALUE"));
    free(tok);
    free(c);
}

static void test_refusals(void **state)
{
    struct rx_conf *c = conf_with_rules();
    const char *res = "http://127.0.0.1:8080/events/messages", *why = NULL;
    char *good = token("http://127.0.0.1/events", RX_DEV_RULE, RX_DEV_KEY, NOW + 60);
    char *ns_wide = token("sb://127.0.0.1/", RX_DEV_RULE, RX_DEV_KEY, NOW + 60);
    char *forged = token("http://127.0.0.1/events", RX_DEV_RULE, "not-the-key", NOW + 60);
    char *expired = token("http://127.0.0.1/events", RX_DEV_RULE, RX_DEV_KEY, NOW - 1);
    char *other_hub = token("http://127.0.0.1/orders", RX_DEV_RULE, RX_DEV_KEY, NOW + 60);
    char *prefix_hub = token("http://127.0.0.1/event", RX_DEV_RULE, RX_DEV_KEY, NOW + 60);
    char *other_host = token("http://10.0.0.1/events", RX_DEV_RULE, RX_DEV_KEY, NOW + 60);
    char *unknown = token("http://127.0.0.1/events", "nobody", RX_DEV_KEY, NOW + 60);
    char *listen = token("http://127.0.0.1/events", "listen-only", "listen-key", NOW + 60);
    char *orders = token("http://127.0.0.1/orders", "orders-send", "orders-key", NOW + 60);
    char *orders_ev = token("http://127.0.0.1/events", "orders-send", "orders-key", NOW + 60);
    (void)state;
    assert_int_equal(check(c, 0, good, res, &why), 0);
    assert_int_equal(check(c, 0, ns_wide, res, &why), 0);
    assert_int_equal(check(c, 0, forged, res, &why), HC_E_AUTH);
    assert_string_equal(why, hc_sas_reason_str(HC_SAS_BAD_SIGNATURE));
    assert_int_equal(check(c, 0, expired, res, &why), HC_E_AUTH);
    assert_string_equal(why, hc_sas_reason_str(HC_SAS_EXPIRED));
    assert_int_equal(check(c, 0, other_hub, res, &why), HC_E_AUTH);
    assert_string_equal(why, hc_sas_reason_str(HC_SAS_WRONG_AUDIENCE));
    assert_int_equal(check(c, 0, prefix_hub, res, &why), HC_E_AUTH);
    assert_int_equal(check(c, 0, other_host, res, &why), HC_E_AUTH);
    assert_string_equal(why, hc_sas_reason_str(HC_SAS_WRONG_AUDIENCE));
    assert_int_equal(check(c, 0, unknown, res, &why), HC_E_AUTH);
    assert_string_equal(why, hc_sas_reason_str(HC_SAS_UNKNOWN_KEY));
    assert_int_equal(check(c, 0, listen, res, &why), HC_E_AUTH);
    assert_string_equal(why, "the token's policy has no Send right");
    /* a hub's own policy: good for that hub, unknown for another */
    assert_int_equal(check(c, 1, orders, "http://127.0.0.1/orders/messages", &why), 0);
    assert_int_equal(check(c, 0, orders_ev, res, &why), HC_E_AUTH);
    assert_string_equal(why, hc_sas_reason_str(HC_SAS_UNKNOWN_KEY));
    /* not a token at all */
    assert_int_equal(check(c, 0, NULL, res, &why), HC_E_AUTH);
    assert_int_equal(check(c, 0, "", res, &why), HC_E_AUTH);
    assert_int_equal(check(c, 0, "Bearer eyJhbGciOi", res, &why), HC_E_AUTH);
    assert_int_equal(check(c, 0, "SharedAccessSignature sr=x", res, &why), HC_E_AUTH);
    assert_string_equal(why, hc_sas_reason_str(HC_SAS_MALFORMED));
    free(good), free(ns_wide), free(forged), free(expired), free(other_hub), free(prefix_hub);
    free(other_host), free(unknown), free(listen), free(orders), free(orders_ev);
    free(c);
}

/* AMQP audiences: any scheme, a port, a partition or consumer group below the hub; Listen. */
static void test_schemes_and_listen(void **state)
{
    struct rx_conf *c = conf_with_rules();
    struct hc_sas_claims cl;
    char res[256];
    const char *why = NULL;
    char *sb = token("sb://127.0.0.1:5672/events", RX_DEV_RULE, RX_DEV_KEY, NOW + 60);
    char *listen = token("amqps://127.0.0.1/events", "listen-only", "listen-key", NOW + 60);
    char *send = token("sb://127.0.0.1/orders", "orders-send", "orders-key", NOW + 60);
    (void)state;
    assert_true(rx_sas_resource(c, "amqp", "127.0.0.1", "/events/Partitions/3", res, sizeof res) >
                0);
    assert_string_equal(res, "amqp://127.0.0.1/events/Partitions/3");
    assert_int_equal(rx_sas_check(c, 0, sb, res, RX_RIGHT_SEND, NOW, &cl, &why), 0);
    assert_int_equal(cl.expiry_s, NOW + 60);
    assert_int_equal(rx_sas_check(c, 0, sb,
                                  "sb://127.0.0.1/events/ConsumerGroups/$default/"
                                  "Partitions/0",
                                  RX_RIGHT_LISTEN, NOW, NULL, &why),
                     0); /* Manage covers Listen */
    assert_int_equal(rx_sas_check(c, 0, listen,
                                  "amqp://127.0.0.1/events/ConsumerGroups/x/"
                                  "Partitions/0",
                                  RX_RIGHT_LISTEN, NOW, NULL, &why),
                     0);
    assert_int_equal(rx_sas_check(c, 0, listen, res, RX_RIGHT_SEND, NOW, NULL, &why), HC_E_AUTH);
    assert_string_equal(why, "the token's policy has no Send right");
    assert_int_equal(rx_sas_check(c, 1, send,
                                  "amqp://127.0.0.1/orders/ConsumerGroups/x/"
                                  "Partitions/0",
                                  RX_RIGHT_LISTEN, NOW, NULL, &why),
                     HC_E_AUTH);
    assert_string_equal(why, "the token's policy has no Listen right");
    free(sb), free(listen), free(send);
    free(c);
}

static void test_resource(void **state)
{
    struct rx_conf *c = conf_with_rules();
    char res[256];
    (void)state;
    assert_true(rx_sas_resource(c, "http", "localhost:8080", "/events/messages", res, sizeof res) >
                0);
    assert_string_equal(res, "http://localhost:8080/events/messages");
    /* a Host with odd bytes is not used: the listen address is */
    assert_true(rx_sas_resource(c, "http", "a/b@evil", "/events/messages", res, sizeof res) > 0);
    assert_string_equal(res, "http://127.0.0.1/events/messages");
    assert_true(rx_sas_resource(c, "http", NULL, "/events/messages", res, sizeof res) > 0);
    assert_string_equal(res, "http://127.0.0.1/events/messages");
    strcpy(c->listen_addr, "::1");
    assert_true(rx_sas_resource(c, "http", NULL, "/events/messages", res, sizeof res) > 0);
    assert_string_equal(res, "http://[::1]/events/messages");
    /* host_name set: tokens must be for it, whatever Host says */
    strcpy(c->host_name, "ns.servicebus.windows.net");
    assert_true(rx_sas_resource(c, "http", "127.0.0.1:8080", "/events/messages", res, sizeof res) >
                0);
    assert_string_equal(res, "http://ns.servicebus.windows.net/events/messages");
    assert_int_equal(rx_sas_resource(c, "http", NULL, "/events/messages", res, 10), HC_E_TOOBIG);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_agent_connection_string),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_schemes_and_listen),
        cmocka_unit_test(test_resource),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
