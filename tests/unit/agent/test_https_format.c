/*
 * test_https_format.c - the Event Hubs REST transport without a network: the batch body is
 * exactly the documented JSON (the expected text below was produced independently, by Python's
 * json.dumps with separators (',', ':') and ensure_ascii=False), record_size() is exactly what
 * format() appends, the body parses back (cJSON) to the records, and the pure helpers (status
 * mapping, Retry-After, settings) behave as the shipper relies on.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "agent/transport/https/https_conf.h"
#include "agent/transport/transport.h"
#include "common/error.h"
#include "common/uuid.h"

static const char json1[] =
    "{\"event_id\":\"0190f3c2-0000-7000-8000-000000000001\",\"device_id\":\"pi-0007\",\"kind\":"
    "\"order_line\",\"schema\":1,\"event_time\":\"2026-11-22T03:00:00.123Z\",\"data\":{\"invoic"
    "e_no\":\"C536379\",\"quantity\":-1}}";
/* Quotes and backslashes (JSON escapes inside the envelope) and UTF-8. */
static const char json2[] =
    "{\"event_id\":\"0190f3c2-0000-7000-8000-000000000002\",\"device_id\":\"pi \\\"quoted\\\" "
    "\\\\ 7\",\"kind\":\"car_listing\",\"schema\":2,\"event_time\":\"2026-11-22T03:00:01.000Z\""
    ",\"data\":{\"make\":\"Citro\xc3\xabn\",\"model\":\"C3 \\\"Aircross\\\"\",\"note\":\"line1"
    "\\nline2 \xe2\x82\xac\"}}";
/* Raw control characters, DEL and a 4-byte UTF-8 character. */
static const char json3[] = "ctl:\x01\x1f\x7f\b\f\r\n\t end \xf0\x9f\x9a\x97";
static const char dev2[] = "pi \"quoted\" \\ 7";
static const char dev3[] = "dev\t\x01\xc3\xa9";

static const char expected[] =
    "[{\"Body\":\"{\\\"event_id\\\":\\\"0190f3c2-0000-7000-8000-000000000001\\\",\\\"device_id"
    "\\\":\\\"pi-0007\\\",\\\"kind\\\":\\\"order_line\\\",\\\"schema\\\":1,\\\"event_time\\\":"
    "\\\"2026-11-22T03:00:00.123Z\\\",\\\"data\\\":{\\\"invoice_no\\\":\\\"C536379\\\",\\\"quan"
    "tity\\\":-1}}\",\"UserProperties\":{\"event_id\":\"0190f3c2-0000-7000-8000-000000000001\","
    "\"device_id\":\"pi-0007\",\"kind\":\"order_line\",\"schema\":1},\"BrokerProperties\":{\"Pa"
    "rtitionKey\":\"pi-0007\"}},{\"Body\":\"{\\\"event_id\\\":\\\"0190f3c2-0000-7000-8000-00000"
    "0000002\\\",\\\"device_id\\\":\\\"pi \\\\\\\"quoted\\\\\\\" \\\\\\\\ 7\\\",\\\"kind\\\":\\"
    "\"car_listing\\\",\\\"schema\\\":2,\\\"event_time\\\":\\\"2026-11-22T03:00:01.000Z\\\",\\"
    "\"data\\\":{\\\"make\\\":\\\"Citro\xc3\xabn\\\",\\\"model\\\":\\\"C3 \\\\\\\"Aircross\\\\"
    "\\\"\\\",\\\"note\\\":\\\"line1\\\\nline2 \xe2\x82\xac\\\"}}\",\"UserProperties\":{\"event"
    "_id\":\"0190f3c2-0000-7000-8000-000000000002\",\"device_id\":\"pi \\\"quoted\\\" \\\\ 7\","
    "\"kind\":\"car_listing\",\"schema\":2},\"BrokerProperties\":{\"PartitionKey\":\"pi \\\"quo"
    "ted\\\" \\\\ 7\"}},{\"Body\":\"ctl:\\u0001\\u001f\x7f\\b\\f\\r\\n\\t end \xf0\x9f\x9a\x97"
    "\",\"UserProperties\":{\"event_id\":\"0190f3c2-0000-7000-8000-000000000003\",\"device_id\""
    ":\"dev\\t\\u0001\xc3\xa9\",\"kind\":\"unknown\",\"schema\":10},\"BrokerProperties\":{\"Par"
    "titionKey\":\"dev\\t\\u0001\xc3\xa9\"}}]";

static struct ag_record make_rec(uint8_t last, const char *dev, enum hc_kind kind, int schema,
                                 const char *json)
{
    struct ag_record r;
    static const uint8_t id[16] = {0x01, 0x90, 0xf3, 0xc2, 0, 0, 0x70, 0, 0x80};
    memset(&r, 0, sizeof r);
    memcpy(r.ev.id, id, 16);
    r.ev.id[15] = last;
    r.seq = last;
    r.ev.device_id = dev;
    r.ev.device_id_len = strlen(dev);
    r.ev.kind = kind;
    r.ev.schema = schema;
    r.json = json;
    r.json_len = strlen(json);
    return r;
}

static void three_records(struct ag_record recs[3])
{
    recs[0] = make_rec(1, "pi-0007", HC_KIND_ORDER_LINE, 1, json1);
    recs[1] = make_rec(2, dev2, HC_KIND_CAR_LISTING, 2, json2);
    recs[2] = make_rec(3, dev3, HC_KIND_UNKNOWN, 10, json3);
}

static void format_is_documented_json(void **state)
{
    (void)state;
    struct ag_record recs[3];
    const struct ag_record *ptrs[3] = {&recs[0], &recs[1], &recs[2]};
    struct hc_buf out = HC_BUF_INIT;
    three_records(recs);
    assert_int_equal(ag_transport_https.format(NULL, ptrs, 3, &out), 0);
    assert_int_equal(out.len, sizeof expected - 1);
    assert_memory_equal(out.p, expected, sizeof expected - 1);
    hc_buf_free(&out);
}

static void format_one_record(void **state)
{
    (void)state;
    struct ag_record r = make_rec(1, "pi-0007", HC_KIND_ORDER_STATUS, 3, "{}");
    const struct ag_record *p = &r;
    struct hc_buf out = HC_BUF_INIT;
    assert_int_equal(ag_https_format(&p, 1, &out), 0);
    assert_string_equal(out.p,
                        "[{\"Body\":\"{}\",\"UserProperties\":{\"event_id\":\"0190f3c2-0000-"
                        "7000-8000-000000000001\",\"device_id\":\"pi-0007\",\"kind\":\"order_"
                        "status\",\"schema\":3},\"BrokerProperties\":{\"PartitionKey\":\"pi-"
                        "0007\"}}]");
    hc_buf_free(&out);
}

static void format_appends(void **state)
{
    (void)state;
    struct ag_record recs[3];
    const struct ag_record *ptrs[3] = {&recs[0], &recs[1], &recs[2]};
    struct hc_buf out = HC_BUF_INIT;
    three_records(recs);
    assert_int_equal(hc_buf_adds(&out, "prefix"), 0);
    assert_int_equal(ag_https_format(ptrs, 3, &out), 0);
    assert_int_equal(out.len, 6 + sizeof expected - 1);
    assert_memory_equal(out.p, "prefix", 6);
    assert_memory_equal(out.p + 6, expected, sizeof expected - 1);
    hc_buf_free(&out);
}

/* Every prefix of the batch: appended length == overhead + sum of record_size. */
static void sizes_are_exact(void **state)
{
    (void)state;
    struct ag_record recs[3];
    const struct ag_record *ptrs[3] = {&recs[0], &recs[1], &recs[2]};
    three_records(recs);
    for (size_t n = 1; n <= 3; n++) {
        struct hc_buf out = HC_BUF_INIT;
        size_t sum = AG_HTTPS_BATCH_OVERHEAD;
        for (size_t i = 0; i < n; i++)
            sum += ag_transport_https.record_size(NULL, ptrs[i]);
        assert_int_equal(ag_https_format(ptrs, n, &out), 0);
        assert_int_equal(out.len, sum);
        hc_buf_free(&out);
    }
}

/* Random bytes (1..255) in device ids and bodies, random kinds and schemas: sizes stay exact. */
static void sizes_are_exact_random(void **state)
{
    (void)state;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    enum { N = 50 };
    static char devs[N][40], bodies[N][300];
    struct ag_record recs[N];
    const struct ag_record *ptrs[N];
    size_t sum = AG_HTTPS_BATCH_OVERHEAD;
    for (int i = 0; i < N; i++) {
        size_t dl = 1 + i % 39, bl = (size_t)(i * 7) % 299;
        for (size_t j = 0; j < dl; j++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            devs[i][j] = (char)(1 + (x >> 33) % 255);
        }
        devs[i][dl] = '\0';
        for (size_t j = 0; j < bl; j++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            bodies[i][j] = (char)(1 + (x >> 33) % 255);
        }
        bodies[i][bl] = '\0';
        recs[i] = make_rec((uint8_t)i, devs[i], (enum hc_kind)(i % HC_KIND_COUNT),
                           i % 3 == 0 ? -i * 1000 : i, bodies[i]);
        ptrs[i] = &recs[i];
        sum += ag_https_record_size(&recs[i]);
    }
    struct hc_buf out = HC_BUF_INIT;
    assert_int_equal(ag_https_format(ptrs, N, &out), 0);
    assert_int_equal(out.len, sum);
    hc_buf_free(&out);
}

static void json_str_len_matches_encoder(void **state)
{
    (void)state;
    for (int c = 1; c < 256; c++) {
        char s[3] = {'a', (char)c, 'b'};
        struct hc_buf b = HC_BUF_INIT;
        assert_int_equal(hc_buf_add_json_str(&b, s, 3), 0);
        assert_int_equal(hc_json_str_len(s, 3), b.len);
        hc_buf_free(&b);
    }
    assert_int_equal(hc_json_str_len("", 0), 2);
}

static const cJSON *get(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v)
        fail_msg("no member %s", name);
    return v;
}

static void body_parses_back(void **state)
{
    (void)state;
    struct ag_record recs[3];
    const struct ag_record *ptrs[3] = {&recs[0], &recs[1], &recs[2]};
    struct hc_buf out = HC_BUF_INIT;
    static const char *const kinds[] = {"order_line", "car_listing", "unknown"};
    static const char *const order[] = {"Body", "UserProperties", "BrokerProperties"};
    three_records(recs);
    assert_int_equal(ag_https_format(ptrs, 3, &out), 0);
    cJSON *doc = cJSON_ParseWithLength(out.p, out.len);
    assert_non_null(doc);
    assert_true(cJSON_IsArray(doc));
    assert_int_equal(cJSON_GetArraySize(doc), 3);
    for (int i = 0; i < 3; i++) {
        const cJSON *m = cJSON_GetArrayItem(doc, i), *c;
        char id[HC_UUID_STRLEN];
        int k = 0;
        for (c = m->child; c; c = c->next, k++)
            assert_string_equal(c->string, order[k]);
        assert_int_equal(k, 3);
        assert_true(cJSON_IsString(get(m, "Body")));
        assert_string_equal(get(m, "Body")->valuestring, recs[i].json);
        const cJSON *up = get(m, "UserProperties");
        hc_uuid_format(recs[i].ev.id, id);
        assert_string_equal(get(up, "event_id")->valuestring, id);
        assert_string_equal(get(up, "device_id")->valuestring, recs[i].ev.device_id);
        assert_string_equal(get(up, "kind")->valuestring, kinds[i]);
        assert_true(cJSON_IsNumber(get(up, "schema")));
        assert_int_equal(get(up, "schema")->valueint, recs[i].ev.schema);
        assert_int_equal(cJSON_GetArraySize(up), 4);
        const cJSON *bp = get(m, "BrokerProperties");
        assert_string_equal(get(bp, "PartitionKey")->valuestring, recs[i].ev.device_id);
        assert_int_equal(cJSON_GetArraySize(bp), 1);
    }
    /* The first Body is itself the envelope. */
    cJSON *env = cJSON_Parse(get(cJSON_GetArrayItem(doc, 1), "Body")->valuestring);
    assert_non_null(env);
    assert_string_equal(get(env, "device_id")->valuestring, dev2);
    cJSON_Delete(env);
    cJSON_Delete(doc);
    hc_buf_free(&out);
}

static void status_mapping(void **state)
{
    (void)state;
    static const struct {
        int status;
        enum ag_send_result r;
        enum ag_send_why why;
    } cases[] = {
        {201, AG_SEND_OK, AG_WHY_NONE},         {200, AG_SEND_OK, AG_WHY_NONE},
        {429, AG_SEND_RETRY, AG_WHY_THROTTLED}, {503, AG_SEND_RETRY, AG_WHY_THROTTLED},
        {500, AG_SEND_RETRY, AG_WHY_SERVER},    {502, AG_SEND_RETRY, AG_WHY_SERVER},
        {504, AG_SEND_RETRY, AG_WHY_SERVER},    {408, AG_SEND_RETRY, AG_WHY_SERVER},
        {410, AG_SEND_RETRY, AG_WHY_SERVER},    {401, AG_SEND_RETRY, AG_WHY_AUTH},
        {403, AG_SEND_RETRY, AG_WHY_AUTH},      {400, AG_SEND_REJECT, AG_WHY_SIZE},
        {413, AG_SEND_REJECT, AG_WHY_SIZE},     {404, AG_SEND_REJECT, AG_WHY_REFUSED},
        {405, AG_SEND_REJECT, AG_WHY_REFUSED},  {302, AG_SEND_RETRY, AG_WHY_SERVER},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum ag_send_why why = AG_WHY_INTERNAL;
        assert_int_equal(ag_https_status_result(cases[i].status, &why), cases[i].r);
        assert_int_equal(why, cases[i].why);
    }
}

static void retry_after(void **state)
{
    (void)state;
    const int64_t date = 784111777000LL; /* Sun, 06 Nov 1994 08:49:37 GMT */
    assert_int_equal(ag_https_retry_after_ms("120", 0), 120000);
    assert_int_equal(ag_https_retry_after_ms(" 5\r\n", 0), 5000);
    assert_int_equal(ag_https_retry_after_ms("0", 0), 0);
    assert_int_equal(ag_https_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", date - 10000), 10000);
    assert_int_equal(ag_https_retry_after_ms(" Sun, 06 Nov 1994 08:49:37 GMT\r\n", date - 1500),
                     1500);
    assert_int_equal(ag_https_retry_after_ms("Sunday, 06-Nov-94 08:49:37 GMT", date - 2000), 2000);
    assert_int_equal(ag_https_retry_after_ms("Sun Nov  6 08:49:37 1994", date - 3000), 3000);
    assert_int_equal(ag_https_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", date + 5000), 0);
    assert_int_equal(
        ag_https_retry_after_ms("Thu, 01 Jan 2026 00:00:00 GMT", 1767225600000LL - 60000), 60000);
    assert_int_equal(ag_https_retry_after_ms("Thu, 29 Feb 2024 12:00:00 GMT", 1709208000000LL), 0);
    assert_int_equal(ag_https_retry_after_ms("soon", 0), -1);
    assert_int_equal(ag_https_retry_after_ms("", 0), -1);
    assert_int_equal(ag_https_retry_after_ms("-5", 0), -1);
    assert_int_equal(ag_https_retry_after_ms("5s", 0), -1);
    assert_int_equal(ag_https_retry_after_ms("Sun, 06 Foo 1994 08:49:37 GMT", 0), -1);
    assert_int_equal(ag_https_retry_after_ms(NULL, 0), -1);
}

/* The answer's header lines as curl hands them over (with CRLF, not NUL-terminated). */
static void header_lines(void **state)
{
    (void)state;
    struct ag_https_wish w;
    char line[160];
    memset(&w, 0, sizeof w);
#define LINE(s) ag_https_header_line(&w, memcpy(line, s "XX", sizeof(s) + 1), sizeof(s) - 1)
    assert_int_equal(LINE("HTTP/1.1 503 Service Unavailable\r\n"), 1);
    assert_int_equal(LINE("Content-Type: text/plain\r\n"), 0);
    assert_int_equal(LINE("retry-after:  7 \r\n"), 0);
    assert_string_equal(w.retry_after, "7");
    assert_int_equal(ag_https_wish_ms(&w, 0), 7000);
    assert_int_equal(LINE("X-MS-Retry-After-Ms: 250\r\n"), 0);
    assert_string_equal(w.retry_after_ms, "250");
    assert_int_equal(ag_https_wish_ms(&w, 0), 250); /* the milliseconds come first */
    assert_int_equal(LINE("retry-after-ms: soon\r\n"), 0);
    assert_int_equal(ag_https_wish_ms(&w, 0), 7000); /* not a number: Retry-After then */
    assert_int_equal(LINE("Retry-After-Extra: 1\r\n"), 0);
    assert_string_equal(w.retry_after, "7");
    assert_int_equal(LINE("Retry-After:\r\n"), 0);
    assert_string_equal(w.retry_after, "");
    assert_int_equal(ag_https_wish_ms(&w, 0), -1);
    memset(line, 'x', sizeof line);
    memcpy(line, "Retry-After: ", 13);
    assert_int_equal(ag_https_header_line(&w, line, sizeof line), 0); /* cut to its field */
    assert_int_equal(strlen(w.retry_after), AG_HTTPS_HDR_MAX - 1);
    assert_int_equal(LINE("HTTP/1.1 200 OK\r\n"), 1); /* a new answer forgets the wishes */
    assert_string_equal(w.retry_after_ms, "");
    assert_int_equal(ag_https_wish_ms(&w, 0), -1);
#undef LINE
}

static const char *const CS = "Endpoint=sb://contoso.servicebus.windows.net/;"
                              "SharedAccessKeyName=send;SharedAccessKey=abc=;EntityPath=Orders";

static void conf_settings(void **state)
{
    (void)state;
    struct ag_https_conf c;
    const char *why = NULL;
    ag_https_conf_default(&c);
    assert_int_equal(ag_https_conf_finish(&c, &why), HC_E_INVAL);
    assert_string_equal(why, "no connection string: pass --connection-string or set "
                             "HUBCAP_CONNECTION_STRING");
    assert_int_equal(ag_https_conf_set(&c, "connection_string", CS, &why), 0);
    assert_int_equal(ag_https_conf_finish(&c, &why), 0);
    assert_string_equal(c.url, "https://contoso.servicebus.windows.net/Orders/messages"
                               "?timeout=60&api-version=2014-01");
    assert_string_equal(c.audience, "https://contoso.servicebus.windows.net/orders");
    assert_string_equal(c.hub.host_port, "contoso.servicebus.windows.net:443");
    assert_int_equal(c.hub.max_batch_bytes, 1048576);
    assert_int_equal(c.hub.connect_timeout_ms, 10000);
    assert_int_equal(c.hub.token_ttl_ms, 3600000);
    assert_int_equal(c.hub.token_renew_ms, 300000);
    ag_https_conf_free(&c);

    /* Basic tier; an explicit size wins whatever the order. */
    ag_https_conf_default(&c);
    assert_int_equal(ag_https_conf_set(&c, "connection_string", CS, NULL), 0);
    assert_int_equal(ag_https_conf_set(&c, "tier", "Basic", NULL), 0);
    assert_int_equal(ag_https_conf_finish(&c, NULL), 0);
    assert_int_equal(c.hub.max_batch_bytes, 262144);
    ag_https_conf_free(&c);
    ag_https_conf_default(&c);
    assert_int_equal(ag_https_conf_set(&c, "max_batch_bytes", "512K", NULL), 0);
    assert_int_equal(ag_https_conf_set(&c, "tier", "basic", NULL), 0);
    assert_int_equal(ag_https_conf_set(&c, "connection_string", CS, NULL), 0);
    assert_int_equal(ag_https_conf_set(&c, "timeout", "90s", NULL), 0);
    assert_int_equal(ag_https_conf_finish(&c, NULL), 0);
    assert_int_equal(c.hub.max_batch_bytes, 524288);
    assert_int_equal(c.hub.timeout_ms, 90000);
    ag_https_conf_free(&c);

    /* A local receiver over plain HTTP, hub given separately. */
    ag_https_conf_default(&c);
    assert_int_equal(ag_https_conf_set(&c, "connection_string",
                                       "Endpoint=http://127.0.0.1:8080/;SharedAccessKeyName=k;"
                                       "SharedAccessKey=v",
                                       NULL),
                     0);
    assert_int_equal(ag_https_conf_finish(&c, &why), HC_E_INVAL);
    assert_string_equal(why, "no EntityPath: pass the event hub name");
    assert_int_equal(ag_https_conf_set(&c, "hub", "events", NULL), 0);
    assert_int_equal(ag_https_conf_finish(&c, &why), 0);
    assert_string_equal(c.url,
                        "http://127.0.0.1:8080/events/messages?timeout=60&api-version=2014-01");
    assert_string_equal(c.audience, "http://127.0.0.1/events");
    assert_string_equal(c.hub.host_port, "127.0.0.1:8080");
    ag_https_conf_free(&c);
}

static void conf_errors(void **state)
{
    (void)state;
    struct ag_https_conf c;
    const char *why = NULL;
    ag_https_conf_default(&c);
    assert_int_equal(ag_https_conf_set(&c, "color", "blue", &why), HC_E_NOTFOUND);
    assert_non_null(strstr(why, "unknown setting"));
    assert_int_equal(ag_https_conf_set(&c, "tier", "gold", &why), HC_E_INVAL);
    assert_int_equal(ag_https_conf_set(&c, "max_batch_bytes", "10", &why), HC_E_INVAL);
    assert_int_equal(ag_https_conf_set(&c, "max_batch_bytes", "1G", &why), HC_E_INVAL);
    assert_int_equal(ag_https_conf_set(&c, "timeout", "forever", &why), HC_E_INVAL);
    assert_int_equal(c.hub.timeout_ms, 70000);
    assert_int_equal(ag_https_conf_set(&c, "token_ttl", "10m", &why), 0);
    assert_int_equal(ag_https_conf_set(&c, "token_renew", "10m", &why), 0);
    assert_int_equal(ag_https_conf_set(&c, "connection_string", CS, &why), 0);
    assert_int_equal(ag_https_conf_finish(&c, &why), HC_E_INVAL);
    assert_string_equal(why, "token_renew must be shorter than token_ttl");
    ag_https_conf_free(&c);
    ag_https_conf_free(NULL);
}

/* init makes no connection: it reads the settings and makes the first token. */
static void transport_init_close(void **state)
{
    (void)state;
    const struct ag_transport *t = &ag_transport_https;
    struct ag_kv kv[] = {{"connection_string", CS}, {"tier", "basic"}};
    struct ag_transport_limits lim;
    char err[256];
    void *ctx = NULL;
    assert_string_equal(t->name, "https");
    assert_int_equal(t->init(kv, 2, NULL, &ctx, err, sizeof err), 0);
    assert_non_null(ctx);
    t->limits(ctx, &lim);
    assert_int_equal(lim.max_batch_bytes, 262144);
    assert_int_equal(t->renew_auth(ctx), 0);
    t->close(ctx);
    t->close(NULL);

    struct ag_kv bad[] = {{"connection_string", CS}, {"ca_file", "/nonexistent/ca.pem"}};
    assert_int_equal(t->init(bad, 2, NULL, &ctx, err, sizeof err), -ENOENT);
    assert_null(ctx);
    assert_string_equal(err, "ca_file /nonexistent/ca.pem: No such file or directory");

    struct ag_kv nohub[] = {{"connection_string", "Endpoint=sb://ns/;SharedAccessKeyName=k;"
                                                  "SharedAccessKey=v"}};
    assert_int_equal(t->init(nohub, 1, NULL, &ctx, err, sizeof err), HC_E_INVAL);
    assert_string_equal(err, "no EntityPath: pass the event hub name");

    struct ag_kv unknown[] = {{"colour", "red"}};
    assert_int_equal(t->init(unknown, 1, NULL, &ctx, err, sizeof err), HC_E_NOTFOUND);
    assert_non_null(strstr(err, "colour: https: unknown setting"));

    /* A prebuilt token cannot be renewed. */
    struct ag_kv tok[] = {{"connection_string", "Endpoint=sb://ns/;EntityPath=h;"
                                                "SharedAccessSignature=SharedAccessSignature "
                                                "sr=x&sig=y&se=1&skn=z"}};
    assert_int_equal(t->init(tok, 1, NULL, &ctx, err, sizeof err), 0);
    assert_int_equal(t->renew_auth(ctx), HC_E_AUTH);
    t->close(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(format_is_documented_json),
        cmocka_unit_test(format_one_record),
        cmocka_unit_test(format_appends),
        cmocka_unit_test(sizes_are_exact),
        cmocka_unit_test(sizes_are_exact_random),
        cmocka_unit_test(json_str_len_matches_encoder),
        cmocka_unit_test(body_parses_back),
        cmocka_unit_test(status_mapping),
        cmocka_unit_test(retry_after),
        cmocka_unit_test(header_lines),
        cmocka_unit_test(conf_settings),
        cmocka_unit_test(conf_errors),
        cmocka_unit_test(transport_init_close),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
