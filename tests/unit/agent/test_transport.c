/*
 * test_transport.c - the transport registry and the interface's helpers: transports found by
 * name in this build, the default that follows the connection string (as Azure's SDKs choose),
 * and answers that read alike ("CODE: sentence").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "agent/transport/transport.h"
#include "common/error.h"

static const char *chosen(const char *name, const char *cs)
{
    struct ag_kv kv[] = {{"connection_string", cs}, {"hub", "events"}};
    const struct ag_transport *t = NULL;
    char err[256] = "";
    if (ag_transport_choose(name, kv, cs ? 2 : 0, &t, err, sizeof err))
        return NULL;
    return t->name;
}

static void test_find_by_name(void **state)
{
    (void)state;
#ifdef HUBCAP_WITH_HTTPS
    assert_ptr_equal(ag_transport_find("https"), &ag_transport_https);
    assert_ptr_equal(ag_transport_find("HTTPS"), &ag_transport_https);
    assert_non_null(strstr(ag_transport_names(), "https"));
#endif
#ifdef HUBCAP_WITH_AMQP
    assert_ptr_equal(ag_transport_find("amqp"), &ag_transport_amqp);
    assert_non_null(strstr(ag_transport_names(), "amqp"));
#endif
    assert_null(ag_transport_find("pigeon"));
    assert_null(ag_transport_find(NULL));
}

/* The default follows the connection string (transport.h). */
static void test_default_follows_the_connection_string(void **state)
{
    static const char azure[] = "Endpoint=sb://ns.servicebus.windows.net/;"
                                "SharedAccessKeyName=s;SharedAccessKey=k;EntityPath=events";
    static const char emulator[] =
        "Endpoint=sb://localhost;SharedAccessKeyName=s;"
        "SharedAccessKey=k;UseDevelopmentEmulator=true;EntityPath=events";
    static const char receiver[] = "Endpoint=sb://127.0.0.1:8080/;SharedAccessKeyName=s;"
                                   "SharedAccessKey=k;EntityPath=events;"
                                   "UseDevelopmentEmulator=true";
    static const char receiver_amqp[] = "Endpoint=sb://127.0.0.1:5672/;SharedAccessKeyName=s;"
                                        "SharedAccessKey=k;EntityPath=events;"
                                        "UseDevelopmentEmulator=true";
    static const char rest[] = "Endpoint=https://ns.servicebus.windows.net/;"
                               "SharedAccessKeyName=s;SharedAccessKey=k;EntityPath=events";
    static const char plain[] = "Endpoint=http://127.0.0.1:8080/;SharedAccessKeyName=s;"
                                "SharedAccessKey=k;EntityPath=events";
    (void)state;
#if defined(HUBCAP_WITH_HTTPS) && defined(HUBCAP_WITH_AMQP)
    assert_string_equal(chosen(NULL, azure), "amqp");
    assert_string_equal(chosen("", azure), "amqp");
    assert_string_equal(chosen(NULL, emulator), "amqp");
    assert_string_equal(chosen(NULL, receiver), "https");
    assert_string_equal(chosen(NULL, receiver_amqp), "amqp");
    assert_string_equal(chosen(NULL, rest), "https");
    assert_string_equal(chosen(NULL, plain), "https");
    assert_string_equal(chosen("https", azure), "https"); /* forced */
    assert_string_equal(chosen("amqp", receiver), "amqp");
    assert_string_equal(chosen(NULL, "not a connection string"), "https");
#elif defined(HUBCAP_WITH_HTTPS)
    assert_string_equal(chosen(NULL, azure), "https"); /* the other one, when one is missing */
    assert_null(chosen("amqp", azure));
#elif defined(HUBCAP_WITH_AMQP)
    assert_string_equal(chosen(NULL, rest), "amqp");
    assert_null(chosen("https", rest));
#endif
    assert_null(chosen("pigeon", azure));
    (void)azure, (void)emulator, (void)receiver, (void)receiver_amqp, (void)rest, (void)plain;
}

static void test_choose_errors_say_what_to_do(void **state)
{
    const struct ag_transport *t = (const void *)1;
    char err[256];
    (void)state;
    assert_int_equal(ag_transport_choose("pigeon", NULL, 0, &t, err, sizeof err), HC_E_NOTFOUND);
    assert_null(t);
    assert_non_null(strstr(err, "unknown transport 'pigeon': use "));
#ifdef HUBCAP_WITH_MQTT
    assert_int_equal(ag_transport_choose("MQTT", NULL, 0, &t, err, sizeof err), 0);
    assert_ptr_equal(t, &ag_transport_mqtt);
#else
    assert_int_equal(ag_transport_choose("mqtt", NULL, 0, &t, err, sizeof err), HC_E_NOTFOUND);
    assert_non_null(strstr(err, "transport mqtt is not in this build (HUBCAP_WITH_MQTT=OFF)"));
#endif
}

static void test_status_reads_alike(void **state)
{
    struct ag_send_status st;
    char text[AG_SEND_CODE_MAX + AG_SEND_ERROR_MAX];
    (void)state;
    ag_send_status_reset(&st);
    assert_int_equal(st.result, AG_SEND_RETRY);
    assert_int_equal(st.acked, 0);
    assert_int_equal(st.retry_after_ms, -1);
    snprintf(st.error, sizeof st.error, "connection refused by h:1");
    assert_string_equal(ag_send_status_text(&st, text, sizeof text), "connection refused by h:1");
    snprintf(st.code, sizeof st.code, "HTTP 413");
    snprintf(st.error, sizeof st.error, "hub h refused the batch as too large");
    assert_string_equal(ag_send_status_text(&st, text, sizeof text),
                        "HTTP 413: hub h refused the batch as too large");
    assert_string_equal(ag_send_result_name(AG_SEND_REJECT), "reject");
    assert_string_equal(ag_tp_counter_name(AG_TPC_AUTH_REFUSED), "auth_refused");
    for (int c = 0; c < AG_TPC_COUNT; c++)
        assert_string_not_equal(ag_tp_counter_name((enum ag_tp_counter)c), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find_by_name),
        cmocka_unit_test(test_default_follows_the_connection_string),
        cmocka_unit_test(test_choose_errors_say_what_to_do),
        cmocka_unit_test(test_status_reads_alike),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
