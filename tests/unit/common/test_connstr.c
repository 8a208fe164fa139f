/*
 * test_connstr.c - connection strings as Azure prints them, emulator and http forms, and the
 * errors a user sees for missing or conflicting parts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/connstr.h"
#include "common/error.h"

#define KEY "3b9Ac1Zx/Q+8s0kE2mWq5vR7tYpL4nHdJfGhIu9oP0k="

static void azure_printed(void **state)
{
    (void)state;
    struct hc_connstr cs;
    const char *why = NULL;
    const char *s = "Endpoint=sb://contoso-ns.servicebus.windows.net/;SharedAccessKeyName="
                    "RootManageSharedAccessKey;SharedAccessKey=" KEY ";EntityPath=orders";
    assert_int_equal(hc_connstr_parse(s, NULL, &cs, &why), 0);
    assert_int_equal(cs.scheme, HC_SCHEME_HTTPS);
    assert_string_equal(cs.host, "contoso-ns.servicebus.windows.net");
    assert_int_equal(cs.port, 0);
    assert_int_equal(hc_connstr_port(&cs), 443);
    assert_string_equal(cs.ns, "contoso-ns");
    assert_string_equal(cs.hub, "orders");
    assert_string_equal(cs.key_name, "RootManageSharedAccessKey");
    assert_string_equal(cs.key, KEY); /* '=' inside the value is kept */
    assert_string_equal(cs.token, "");
    assert_int_equal(cs.emulator, 0);
}

static void any_order_case_spaces_trailing(void **state)
{
    (void)state;
    struct hc_connstr cs;
    const char *s = " entitypath = Orders ; SHAREDACCESSKEY=" KEY " ;sharedaccesskeyname=send;"
                    "ENDPOINT=sb://NS1.ServiceBus.Windows.Net;TransportType=Amqp;;";
    assert_int_equal(hc_connstr_parse(s, NULL, &cs, NULL), 0);
    assert_string_equal(cs.host, "ns1.servicebus.windows.net");
    assert_string_equal(cs.ns, "ns1");
    assert_string_equal(cs.hub, "Orders");
    assert_string_equal(cs.key_name, "send");
    assert_string_equal(cs.key, KEY);
}

static void namespace_string_with_hub_given(void **state)
{
    (void)state;
    struct hc_connstr cs;
    const char *why = NULL;
    const char *s = "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=send;"
                    "SharedAccessKey=" KEY;
    assert_int_equal(hc_connstr_parse(s, NULL, &cs, &why), HC_E_INVAL);
    assert_string_equal(why, "no EntityPath: pass the event hub name");
    assert_string_equal(cs.key, ""); /* nothing left behind */
    assert_int_equal(hc_connstr_parse(s, "telemetry", &cs, &why), 0);
    assert_string_equal(cs.hub, "telemetry");
    /* Both given: they must agree (case-insensitively). */
    assert_int_equal(hc_connstr_parse("Endpoint=sb://ns.servicebus.windows.net/;"
                                      "SharedAccessKeyName=a;SharedAccessKey=b;EntityPath=Hub1",
                                      "hub1", &cs, &why),
                     0);
    assert_int_equal(hc_connstr_parse("Endpoint=sb://ns.servicebus.windows.net/;"
                                      "SharedAccessKeyName=a;SharedAccessKey=b;EntityPath=hub1",
                                      "hub2", &cs, &why),
                     HC_E_INVAL);
    assert_non_null(strstr(why, "EntityPath"));
}

static void emulator(void **state)
{
    (void)state;
    struct hc_connstr cs;
    /* The form the Event Hubs emulator documents (no trailing slash). */
    const char *s = "Endpoint=sb://localhost;SharedAccessKeyName=RootManageSharedAccessKey;"
                    "SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;";
    assert_int_equal(hc_connstr_parse(s, "eh1", &cs, NULL), 0);
    assert_int_equal(cs.scheme, HC_SCHEME_HTTP);
    assert_int_equal(cs.emulator, 1);
    assert_string_equal(cs.host, "localhost");
    assert_string_equal(cs.ns, "localhost");
    assert_int_equal(hc_connstr_port(&cs), 80);
    assert_int_equal(hc_connstr_parse("Endpoint=sb://127.0.0.1:5300/;SharedAccessKeyName=k;"
                                      "SharedAccessKey=v;UseDevelopmentEmulator=True;EntityPath=h",
                                      NULL, &cs, NULL),
                     0);
    assert_int_equal(cs.scheme, HC_SCHEME_HTTP);
    assert_int_equal(cs.port, 5300);
    assert_string_equal(cs.ns, "127.0.0.1");
    /* false keeps TLS. */
    assert_int_equal(hc_connstr_parse("Endpoint=sb://ns.example.com/;SharedAccessKeyName=k;"
                                      "SharedAccessKey=v;UseDevelopmentEmulator=false;EntityPath=h",
                                      NULL, &cs, NULL),
                     0);
    assert_int_equal(cs.scheme, HC_SCHEME_HTTPS);
    const char *why = NULL;
    assert_int_equal(hc_connstr_parse("Endpoint=sb://x/;SharedAccessKeyName=k;SharedAccessKey=v;"
                                      "UseDevelopmentEmulator=yes;EntityPath=h",
                                      NULL, &cs, &why),
                     HC_E_PARSE);
    assert_non_null(strstr(why, "UseDevelopmentEmulator"));
}

static void http_and_https_endpoints(void **state)
{
    (void)state;
    struct hc_connstr cs;
    assert_int_equal(hc_connstr_parse("Endpoint=http://127.0.0.1:8080/;SharedAccessKeyName=k;"
                                      "SharedAccessKey=v;EntityPath=orders",
                                      NULL, &cs, NULL),
                     0);
    assert_int_equal(cs.scheme, HC_SCHEME_HTTP);
    assert_string_equal(cs.host, "127.0.0.1");
    assert_int_equal(cs.port, 8080);
    assert_int_equal(cs.emulator, 0);
    assert_int_equal(hc_connstr_parse("Endpoint=https://hub.example.org:8443;SharedAccessKeyName=k;"
                                      "SharedAccessKey=v;EntityPath=orders",
                                      NULL, &cs, NULL),
                     0);
    assert_int_equal(cs.scheme, HC_SCHEME_HTTPS);
    assert_string_equal(cs.host, "hub.example.org");
    assert_string_equal(cs.ns, "hub");
    assert_int_equal(hc_connstr_port(&cs), 8443);
    assert_int_equal(hc_connstr_parse("Endpoint=http://[::1]:9000/;SharedAccessKeyName=k;"
                                      "SharedAccessKey=v;EntityPath=orders",
                                      NULL, &cs, NULL),
                     0);
    assert_string_equal(cs.host, "[::1]");
    assert_int_equal(cs.port, 9000);
    assert_string_equal(cs.ns, "[::1]");
}

static void prebuilt_token(void **state)
{
    (void)state;
    struct hc_connstr cs;
    const char *tok = "SharedAccessSignature sr=https%3A%2F%2Fns.servicebus.windows.net%2Fh&"
                      "sig=abc%2B%3D&se=1900000000&skn=send";
    char s[512];
    snprintf(s, sizeof s,
             "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessSignature=%s;"
             "EntityPath=h",
             tok);
    assert_int_equal(hc_connstr_parse(s, NULL, &cs, NULL), 0);
    assert_string_equal(cs.token, tok);
    assert_string_equal(cs.key_name, "");
    assert_string_equal(cs.key, "");
    const char *why = NULL;
    snprintf(s, sizeof s,
             "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessSignature=%s;"
             "SharedAccessKeyName=a;SharedAccessKey=b;EntityPath=h",
             tok);
    assert_int_equal(hc_connstr_parse(s, NULL, &cs, &why), HC_E_INVAL);
    assert_non_null(strstr(why, "keep one"));
}

/* Parse s and expect code rc with why containing text. */
static void expect_error(const char *s, int rc, const char *text)
{
    struct hc_connstr cs;
    const char *why = NULL;
    int got = hc_connstr_parse(s, NULL, &cs, &why);
    if (got != rc || !why || !strstr(why, text))
        fail_msg("\"%s\": got %d (%s), want %d with \"%s\"", s, got, why ? why : "(null)", rc,
                 text);
}

static void missing_parts(void **state)
{
    (void)state;
    expect_error("", HC_E_PARSE, "empty");
    expect_error("hello world", HC_E_PARSE, "no '='");
    expect_error("SharedAccessKeyName=k;SharedAccessKey=v;EntityPath=h", HC_E_INVAL,
                 "has no Endpoint");
    expect_error("Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKey=v;EntityPath=h",
                 HC_E_INVAL, "connection string has no SharedAccessKeyName");
    expect_error("Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=k;EntityPath=h",
                 HC_E_INVAL, "connection string has no SharedAccessKey");
    expect_error("Endpoint=sb://ns.servicebus.windows.net/;EntityPath=h", HC_E_INVAL,
                 "has no SharedAccessKeyName and SharedAccessKey");
    expect_error("Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=;"
                 "SharedAccessKey=v;EntityPath=h",
                 HC_E_INVAL, "empty SharedAccessKeyName");
    expect_error("Endpoint=sb://a/;Endpoint=sb://b/;SharedAccessKeyName=k;SharedAccessKey=v;"
                 "EntityPath=h",
                 HC_E_PARSE, "Endpoint twice");
}

static void bad_endpoints(void **state)
{
    (void)state;
    const char *tail = ";SharedAccessKeyName=k;SharedAccessKey=v;EntityPath=h";
    char s[256];
    static const struct {
        const char *ep, *why;
        int rc;
    } cases[] = {
        {"ftp://ns/", "must start with sb://", HC_E_PARSE},
        {"ns.servicebus.windows.net", "must start with sb://", HC_E_PARSE},
        {"sb://", "no valid host", HC_E_PARSE},
        {"sb://ns.servicebus.windows.net/orders", "must not have a path", HC_E_PARSE},
        {"sb://ns:0/", "port", HC_E_PARSE},
        {"sb://ns:65536/", "port", HC_E_PARSE},
        {"sb://ns:8x/", "port", HC_E_PARSE},
        {"sb://user@ns/", "no valid host", HC_E_PARSE},
        {"http://[::1/", "no valid host", HC_E_PARSE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(s, sizeof s, "Endpoint=%s%s", cases[i].ep, tail);
        expect_error(s, cases[i].rc, cases[i].why);
    }
    snprintf(s, sizeof s,
             "Endpoint=sb://ns/;SharedAccessKeyName=k;SharedAccessKey=v;"
             "EntityPath=a/b");
    expect_error(s, HC_E_INVAL, "only letters");
}

static void audience(void **state)
{
    (void)state;
    struct hc_connstr cs;
    char out[128];
    assert_int_equal(hc_connstr_parse("Endpoint=sb://NS.servicebus.windows.net/;"
                                      "SharedAccessKeyName=k;SharedAccessKey=v;EntityPath=Orders",
                                      NULL, &cs, NULL),
                     0);
    assert_int_equal(hc_connstr_audience(&cs, NULL, out, sizeof out),
                     (int)strlen("https://ns.servicebus.windows.net/orders"));
    assert_string_equal(out, "https://ns.servicebus.windows.net/orders");
    assert_true(hc_connstr_audience(&cs, "amqps", out, sizeof out) > 0);
    assert_string_equal(out, "amqps://ns.servicebus.windows.net/orders");
    assert_int_equal(hc_connstr_audience(&cs, NULL, out, 10), HC_E_TOOBIG);
    assert_string_equal(out, "");
    /* The port is not part of the audience. */
    assert_int_equal(hc_connstr_parse("Endpoint=http://127.0.0.1:8080/;SharedAccessKeyName=k;"
                                      "SharedAccessKey=v;EntityPath=h",
                                      NULL, &cs, NULL),
                     0);
    assert_true(hc_connstr_audience(&cs, NULL, out, sizeof out) > 0);
    assert_string_equal(out, "http://127.0.0.1/h");
}

static void too_long(void **state)
{
    (void)state;
    char s[1200], key[600];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    snprintf(s, sizeof s,
             "Endpoint=sb://ns/;SharedAccessKeyName=k;SharedAccessKey=%s;"
             "EntityPath=h",
             key);
    expect_error(s, HC_E_TOOBIG, "too long");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(azure_printed),
        cmocka_unit_test(any_order_case_spaces_trailing),
        cmocka_unit_test(namespace_string_with_hub_given),
        cmocka_unit_test(emulator),
        cmocka_unit_test(http_and_https_endpoints),
        cmocka_unit_test(prebuilt_token),
        cmocka_unit_test(missing_parts),
        cmocka_unit_test(bad_endpoints),
        cmocka_unit_test(audience),
        cmocka_unit_test(too_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
