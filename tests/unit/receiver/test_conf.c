/* test_conf.c - development defaults, the INI file, and the errors a user sees for bad ones. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/error.h"
#include "receiver/conf.h"

static struct rx_conf c;

static int load_text(const char *text)
{
    char path[] = "/tmp/rx_test_conf_XXXXXX";
    int fd = mkstemp(path), rc;
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    rc = rx_conf_load(&c, path);
    unlink(path);
    return rc;
}

static void test_dev_defaults(void **state)
{
    (void)state;
    unsetenv(RX_DEV_KEY_ENV);
    rx_conf_dev(&c);
    assert_true(c.dev);
    assert_string_equal(c.listen_addr, "127.0.0.1");
    assert_int_equal(c.port, 8080);
    assert_string_equal(c.ns, "hubcap");
    assert_int_equal(c.nhubs, 1);
    assert_string_equal(c.hubs[0].name, "events");
    assert_int_equal(c.hubs[0].partitions, 4);
    assert_string_equal(c.rules[0].name, "RootManageSharedAccessKey");
    assert_string_equal(c.rules[0].key, "SAS_KEY_VALUE");
    assert_true(c.rules[0].rights & RX_RIGHT_SEND);
    assert_string_equal(c.capture_dir, "./capture");
    assert_int_equal(c.codec, RX_CODEC_DEFLATE);
    assert_int_equal(c.max_publication, 1048576);
    assert_int_equal(c.header_timeout_ms, 10000);
    assert_int_equal(c.body_timeout_ms, 60000);
    assert_true(rx_conf_is_loopback(&c));
    assert_int_equal(rx_conf_check(&c), 0);
    setenv(RX_DEV_KEY_ENV, "my-dev-key", 1);
    rx_conf_dev(&c);
    assert_string_equal(c.rules[0].key, "my-dev-key");
    unsetenv(RX_DEV_KEY_ENV);
}

static void test_listen(void **state)
{
    (void)state;
    rx_conf_dev(&c);
    assert_int_equal(rx_conf_listen(&c, "127.0.0.2:9000"), 0);
    assert_string_equal(c.listen_addr, "127.0.0.2");
    assert_int_equal(c.port, 9000);
    assert_true(rx_conf_is_loopback(&c));
    assert_int_equal(rx_conf_listen(&c, "[::1]:0"), 0);
    assert_string_equal(c.listen_addr, "::1");
    assert_int_equal(c.port, 0);
    assert_true(rx_conf_is_loopback(&c));
    assert_int_equal(rx_conf_listen(&c, "8081"), 0);
    assert_int_equal(c.port, 8081);
    assert_int_equal(rx_conf_listen(&c, "0.0.0.0:80"), 0);
    assert_false(rx_conf_is_loopback(&c));
    assert_int_equal(rx_conf_listen(&c, "localhost:80"), HC_E_PARSE);
    assert_int_equal(rx_conf_listen(&c, "1.2.3.4:65536"), HC_E_PARSE);
    assert_int_equal(rx_conf_listen(&c, "1.2.3.4:"), HC_E_PARSE);
    assert_int_equal(rx_conf_listen(&c, "[::1]80"), HC_E_PARSE);
    assert_string_equal(c.listen_addr, "0.0.0.0"); /* unchanged by the failures */
}

static void test_file(void **state)
{
    (void)state;
    setenv("RX_TEST_KEY", "from-env", 1);
    assert_int_equal(load_text("; comment\n[receiver]\nnamespace = contoso\nlisten = 0.0.0.0:9443\n"
                               "host_name = contoso.servicebus.windows.net\nhttp_threads = 3\n"
                               "max_publication = 256K\nconnection_timeout = 10s\n"
                               "header_timeout = 3s\nbody_timeout = 2m\n"
                               "[capture]\ndir = /var/cap\nwindow = 1m\nwindow_bytes = 10M\n"
                               "skip_empty = false\ncodec = null\nindex_dir = /var/ix\n"
                               "[hub orders]\npartitions = 8\nretention = 7d\n"
                               "consumer_groups = analytics, archive $default,Analytics\n"
                               "[hub cars]\npartitions = 2\n"
                               "[rule sender]\nkey_env = RX_TEST_KEY\nrights = send\nhub = orders\n"
                               "[rule admin]\nkey = k2\nrights = manage\n"),
                     0);
    assert_false(c.dev);
    assert_string_equal(c.ns, "contoso");
    assert_int_equal(c.port, 9443);
    assert_string_equal(c.host_name, "contoso.servicebus.windows.net");
    assert_int_equal(c.http_threads, 3);
    assert_int_equal(c.max_publication, 256 * 1024);
    assert_int_equal(c.connection_timeout_ms, 10000);
    assert_int_equal(c.header_timeout_ms, 3000);
    assert_int_equal(c.body_timeout_ms, 120000);
    assert_string_equal(c.capture_dir, "/var/cap");
    assert_int_equal(c.window_ms, 60000);
    assert_int_equal(c.window_bytes, 10u << 20);
    assert_false(c.skip_empty);
    assert_int_equal(c.codec, RX_CODEC_NULL);
    assert_int_equal(c.nhubs, 2);
    assert_int_equal(rx_conf_hub_index(&c, "ORDERS", 6), 0);
    assert_int_equal(c.hubs[0].partitions, 8);
    assert_int_equal(c.hubs[0].retention_ms, 7 * 86400000LL);
    assert_int_equal(c.hubs[1].retention_ms, 0); /* keep everything */
    assert_int_equal(c.hubs[0].ngroups, 2);      /* repeats and $Default are no new groups */
    assert_int_equal(rx_conf_group_index(&c.hubs[0], "$DEFAULT", 8), 0);
    assert_int_equal(rx_conf_group_index(&c.hubs[0], "ANALYTICS", 9), 1);
    assert_int_equal(rx_conf_group_index(&c.hubs[0], "archive", 7), 2);
    assert_int_equal(rx_conf_group_index(&c.hubs[0], "archiv", 6), -1);
    assert_int_equal(rx_conf_group_index(&c.hubs[1], "analytics", 9), -1);
    assert_int_equal(rx_conf_group_index(&c.hubs[1], "$Default", 8), 0);
    assert_string_equal(rx_conf_group_name(&c.hubs[0], 2), "archive");
    assert_string_equal(rx_conf_group_name(&c.hubs[0], 0), "$Default");
    assert_string_equal(c.index_dir, "/var/ix");
    assert_int_equal(c.nrules, 2);
    assert_string_equal(c.rules[0].key, "from-env");
    assert_int_equal(c.rules[0].rights, RX_RIGHT_SEND);
    assert_string_equal(c.rules[0].hub, "orders");
    assert_int_equal(c.rules[1].rights, RX_RIGHT_SEND | RX_RIGHT_LISTEN | RX_RIGHT_MANAGE);
    unsetenv("RX_TEST_KEY");
}

static void test_bad_files(void **state)
{
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"[receiver]\nlisten = nowhere\n", ":2: listen 'nowhere'"},
        {"[receiver]\nbogus = 1\n", ":2: unknown key 'bogus' in [receiver]"},
        {"[nope]\nx = 1\n", ":2: unknown section [nope]"},
        /* found by fuzz_receiver_conf: the printed connection string did not parse back */
        {"[rule r]\nkey = s3c;e k2\n", ":2: key: no ';'"},
        {"[receiver]\nhost_name = nag\x11" "e\n", "host_name: a DNS name"},
        {"[receiver]\nhost_name = a/b\n", "host_name: a DNS name"},
        {"[receiver]\nhost_name = -a.b\n", "host_name: a DNS name"},
        {"[receiver]\nhost_name = ::g\n", "host_name: a DNS name"},
        {"[capture]\ncodec = snappy\n", "codec 'snappy'"},
        {"[capture]\nwindow = 0s\n", "window '0s'"},
        {"[receiver]\nheader_timeout = 500ms\n", "header_timeout '500ms': a duration of at least"},
        {"[receiver]\nbody_timeout = soon\n", "body_timeout 'soon'"},
        {"[hub a/b]\npartitions = 2\n", "a hub name is"},
        {"[hub h]\npartitions = 0\n", "partitions '0'"},
        {"[hub h]\npartitions = 2000\n", "partitions '2000'"},
        {"[hub h]\nretention = soon\n", "retention 'soon'"},
        {"[hub h]\nconsumer_groups = a/b\n", "consumer group 'a/b'"},
        {"[hub h]\nconsumer_groups = "
         "g123456789012345678901234567890123456789012345678901\n",
         "1 to 50 letters"},
        {"[hub h]\nconsumer_groups = a b c d e f g h i j k l m n o p q r s t\n",
         "at most 19 consumer groups"},
        {"[rule r]\nkey_env = RX_TEST_UNSET_VAR\n", "RX_TEST_UNSET_VAR"},
        {"[rule r]\nrights = write\n", "rights 'write'"},
        {"[hub h]\n", "no event hub"}, /* a section with no key is no hub */
        {"[hub h]\npartitions = 1\n", "nobody could send"},
        {"[hub h]\npartitions = 1\n[rule r]\nrights = send\n", "has no key"},
        {"[hub h]\npartitions = 1\n[rule r]\nkey = k\n", "has no rights"},
        {"[hub h]\npartitions = 1\n[rule r]\nkey = k\nrights = send\nhub = other\n",
         "'other' has no [hub]"},
        {"[hub h]\npartitions = 1\n[rule r]\nkey = k\nrights = listen\n", "nobody could send"},
        {"[hub h]\npartitions = 1\n[rule r]\nkey = k\nrights = send\n[receiver]\ntls_cert = c\n",
         "both tls_cert and tls_key"},
        {"not ini\n", "not INI syntax"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_not_equal(load_text(bad[i].text), 0);
        if (!strstr(c.err, bad[i].msg))
            fail_msg("config %zu: error '%s' does not say '%s'", i, c.err, bad[i].msg);
    }
    assert_int_equal(rx_conf_load(&c, "/nonexistent/receiver.conf"), -ENOENT);
    assert_non_null(strstr(c.err, "/nonexistent/receiver.conf"));
}

static void test_connstr(void **state)
{
    char s[1024];
    (void)state;
    assert_int_equal(load_text("[receiver]\nlisten = 0.0.0.0:9000\n[hub h1]\npartitions = 2\n"
                               "[rule l]\nkey = lk\nrights = listen\n[rule s]\nkey = sk\n"
                               "rights = send\n"),
                     0);
    assert_true(rx_conf_connstr(&c, 9000, 1, s, sizeof s) > 0);
    assert_string_equal(s, "Endpoint=sb://127.0.0.1:9000/;SharedAccessKeyName=s;"
                           "SharedAccessKey=sk;EntityPath=h1;UseDevelopmentEmulator=true");
    strcpy(c.listen_addr, "::1");
    strcpy(c.tls_cert, "c.pem");
    assert_true(rx_conf_connstr(&c, 9443, 0, s, sizeof s) > 0);
    assert_string_equal(s, "Endpoint=sb://[::1]:9443/;SharedAccessKeyName=s;"
                           "SharedAccessKey=<key>;EntityPath=h1");
    /* host_name, an IPv6 address: printed in brackets */
    assert_int_equal(load_text("[receiver]\nhost_name = fd00::1\n[hub h1]\npartitions = 2\n"
                               "[rule s]\nkey = sk\nrights = send\n"),
                     0);
    assert_true(rx_conf_connstr(&c, 9000, 1, s, sizeof s) > 0);
    assert_non_null(strstr(s, "Endpoint=sb://[fd00::1]:9000/;"));
}

#define HUB_RULE "[hub h]\npartitions = 1\n[rule r]\nkey = k\nrights = send\n"

/* [amqp]: none without the section; its defaults with it; TLS on 5671 with a certificate. */
static void test_amqp(void **state)
{
    (void)state;
    rx_conf_dev(&c);
    assert_int_equal(c.amqp.port, 5672);
    assert_string_equal(c.amqp.listen_addr, "127.0.0.1");
    assert_int_equal(c.amqp.tls_port, -1);
    assert_true(c.amqp.shared);
    assert_int_equal(load_text(HUB_RULE), 0);
    assert_int_equal(c.amqp.port, -1);
    assert_int_equal(c.amqp.tls_port, -1);
    assert_false(c.amqp.shared);
    assert_int_equal(load_text(HUB_RULE "[amqp]\nidle_timeout = 2m\n"), 0);
    assert_int_equal(c.amqp.port, 5672);
    assert_int_equal(c.amqp.idle_timeout_ms, 120000);
    assert_int_equal(load_text(HUB_RULE "[amqp]\nlisten = off\nlisten_tls = 127.0.0.1:0\n"
                                        "tls_cert = c.pem\ntls_key = k.pem\nmax_frame = 1M\n"
                                        "connection_limit = 10\nthreads = 3\nshared = true\n"),
                     0);
    assert_int_equal(c.amqp.port, -1);
    assert_int_equal(c.amqp.tls_port, 0);
    assert_string_equal(c.amqp.tls_addr, "127.0.0.1");
    assert_int_equal(c.amqp.max_frame, 1u << 20);
    assert_int_equal(c.amqp.connection_limit, 10);
    assert_int_equal(c.amqp.threads, 3);
    assert_true(c.amqp.shared);
    assert_int_equal(load_text(HUB_RULE "[amqp]\ntls_cert = c.pem\ntls_key = k.pem\n"), 0);
    assert_int_equal(c.amqp.tls_port, 5671);
    assert_int_equal(rx_conf_amqp_listen(&c, "[::1]:5673", 0), 0);
    assert_string_equal(c.amqp.listen_addr, "::1");
    assert_int_equal(c.amqp.port, 5673);
    assert_int_equal(rx_conf_amqp_listen(&c, "nowhere", 0), HC_E_PARSE);
    assert_int_equal(c.amqp.port, 5673);
}

static void test_amqp_bad(void **state)
{
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {HUB_RULE "[amqp]\nlisten = here\n", "listen 'here'"},
        {HUB_RULE "[amqp]\nmax_frame = 100\n", "max_frame '100'"},
        {HUB_RULE "[amqp]\nidle_timeout = 10ms\n", "idle_timeout '10ms'"},
        {HUB_RULE "[amqp]\nlisten_tls = 0.0.0.0:5671\n", "listen_tls needs tls_cert"},
        {HUB_RULE "[amqp]\ntls_cert = c.pem\n", "both tls_cert and tls_key in [amqp]"},
        {HUB_RULE "[amqp]\nshared = maybe\n", "shared 'maybe'"},
        {HUB_RULE "[receiver]\ntls_cert = c\ntls_key = k\n[amqp]\nshared = true\n",
         "shared needs a plain"},
        {HUB_RULE "[amqp]\nport = 1\n", "unknown key 'port' in [amqp]"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_not_equal(load_text(bad[i].text), 0);
        if (!strstr(c.err, bad[i].msg))
            fail_msg("config %zu: error '%s' does not say '%s'", i, c.err, bad[i].msg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dev_defaults), cmocka_unit_test(test_listen),
        cmocka_unit_test(test_file),         cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_connstr),      cmocka_unit_test(test_amqp),
        cmocka_unit_test(test_amqp_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
