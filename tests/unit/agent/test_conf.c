/* The agent's INI config: the shipped example loads as it is; mistakes name file, line, fix. */
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

#include "agent/pipe/conf.h"
#include "common/error.h"

static struct ag_conf conf;

static const char *write_tmp(const char *text)
{
    static char path[64];
    strcpy(path, "/tmp/hc-conf-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_example_loads(void **state)
{
    (void)state;
    assert_int_equal(ag_conf_load(HC_SRC_DIR "/agent/hubcap-agent.conf", &conf), 0);
    assert_string_equal(conf.buffer_path, "hubcap-buffer");
    assert_int_equal(conf.queue.max_bytes, 256ull << 20);
    assert_int_equal(conf.queue.policy, AG_FULL_BLOCK);
    assert_int_equal(conf.queue.nosync, 0);
    assert_int_equal(conf.queue.retention_ms, 24 * 3600 * 1000);
    assert_int_equal(conf.nsrc, 2);
    assert_int_equal(conf.src[0].type, AG_SRC_GENERATOR);
    assert_true(conf.src[0].rate == 5);
    assert_int_equal(conf.src[1].type, AG_SRC_WATCH);
    assert_string_equal(conf.src[1].path, "hubcap-inbox");
    assert_int_equal(conf.has_hub, 0);
}

static void test_everything(void **state)
{
    const char *p = write_tmp("[agent]\ndevice_id = pi-0007\n"
                              "[buffer]\npath = /var/lib/b\nfull_policy = drop-oldest\n"
                              "sync = false\nretention = 7d\nretention_bytes = 1G\nbatch = 50\n"
                              "[hub]\nconnection_string = Endpoint=sb://x/;A=b=c\n"
                              "max_batch_events = 100\nlinger = 250ms\ncatch_up_rate = 2000\n"
                              "ca_file = /etc/ca.pem\n"
                              "[source.f]\ntype = file\npath = /data/o.csv\nkind = car_listing\n"
                              "map = vin=VIN\nformat = csv\n"
                              "[source.g]\ntype = generator\nlate = 0.1\nlate_by = 3h\n"
                              "mix = order_line=1\nseed = 9\ncount = 10\n");
    (void)state;
    assert_int_equal(ag_conf_load(p, &conf), 0);
    unlink(p);
    assert_string_equal(conf.device_id, "pi-0007");
    assert_int_equal(conf.queue.policy, AG_FULL_DROP_OLDEST);
    assert_int_equal(conf.queue.nosync, 1);
    assert_int_equal(conf.queue.retention_ms, 7 * 86400000LL);
    assert_int_equal(conf.batch, 50);
    assert_int_equal(conf.has_hub, 1);
    assert_int_equal(conf.max_batch_events, 100);
    assert_int_equal(conf.linger_ms, 250);
    assert_true(conf.catch_up_rate == 2000);
    assert_int_equal(conf.nhub, 2); /* connection_string and ca_file go to the transport */
    assert_string_equal(conf.hub[0].key, "connection_string");
    assert_string_equal(conf.hub[0].value, "Endpoint=sb://x/;A=b=c");
    assert_int_equal(conf.src[0].reader.kind, HC_KIND_CAR_LISTING);
    assert_string_equal(conf.src[0].reader.map, "vin=VIN");
    assert_int_equal(conf.src[0].reader.format, AG_FMT_CSV);
    assert_string_equal(conf.src[0].reader.device_id, "pi-0007");
    assert_true(conf.src[1].gen.late == 0.1);
    assert_int_equal(conf.src[1].gen.late_ms, 3 * 3600000);
    assert_int_equal(conf.src[1].count, 10);
    assert_int_equal(conf.src[1].gen.seed, 9);
}

static void test_errors_name_the_line(void **state)
{
    static const struct {
        const char *text;
        const char *msg;
    } cases[] = {
        {"[buffer]\npath = b\nfrobs = 1\n", ":3: unknown key 'frobs' in [buffer]"},
        {"[buffer]\npath = b\n[nope]\nx = 1\n", ":4: unknown section [nope]"},
        {"[buffer]\npath = b\nfull_policy = explode\n", ":3: full_policy 'explode': use block"},
        {"[buffer]\nmax_bytes = 12X\n", ":2: max_bytes '12X'"},
        {"[agent]\nlog_level = loud\n", ":2: log_level 'loud'"},
        {"[agent]\ndevice_id = x\n", "[buffer] path is missing"},
        {"[buffer]\npath = b\n[source.s]\nrate = 3\n", "[source.s] has no type"},
        {"[buffer]\npath = b\n[source.s]\ntype = watch\n", "[source.s] needs dir = FOLDER"},
        {"[buffer]\npath = b\n[source.s]\ntype = generator\nlate = 2\n", ":5: late '2'"},
        {"[buffer]\npath = b\n[hub]\ntransport = pigeon\n", ":4: transport 'pigeon'"},
        {"[buffer]\npath = b\nno equals sign here\n", ":3: not INI syntax"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *p = write_tmp(cases[i].text);
        assert_int_equal(ag_conf_load(p, &conf), HC_E_PARSE);
        unlink(p);
        if (!strstr(conf.err, cases[i].msg))
            fail_msg("case %zu: '%s' lacks '%s'", i, conf.err, cases[i].msg);
        assert_non_null(strstr(conf.err, p)); /* the file is named */
    }
    assert_int_equal(ag_conf_load("/nonexistent/agent.conf", &conf), -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_loads),
        cmocka_unit_test(test_everything),
        cmocka_unit_test(test_errors_name_the_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
