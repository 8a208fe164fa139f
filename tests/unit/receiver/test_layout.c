/*
 * test_layout.c - capture file names as Event Hubs Capture lays them out, and the
 * EnqueuedTimeUtc text Azure writes ("6/12/2020 6:32:34 PM").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "receiver/capture/layout.h"
#include "receiver/capture/record.h"

#define T_2026_02_16_14_30_05 1771252205LL /* Mon, 16 Feb 2026 14:30:05 UTC */

static void test_paths(void **state)
{
    char dir[256], path[256];
    (void)state;
    assert_true(rx_layout_partition_dir(dir, sizeof dir, "/cap", "my-ns", "user-events", 3) > 0);
    assert_string_equal(dir, "/cap/my-ns/user-events/3");
    assert_true(rx_layout_file(path, sizeof path, dir, T_2026_02_16_14_30_05, 0) > 0);
    assert_string_equal(path, "/cap/my-ns/user-events/3/2026/02/16/14/30/05.avro");
    assert_true(rx_layout_file(path, sizeof path, dir, T_2026_02_16_14_30_05, 1) > 0);
    assert_string_equal(path, "/cap/my-ns/user-events/3/2026/02/16/14/30/05.avro.tmp");
    assert_int_equal(rx_layout_file(path, 20, dir, 0, 0), HC_E_TOOBIG);
    assert_string_equal(path, "");
    assert_int_equal(rx_layout_partition_dir(dir, 8, "/cap", "ns", "hub", 0), HC_E_TOOBIG);
}

static void test_time_of_path(void **state)
{
    (void)state;
    assert_int_equal(rx_layout_time("/cap/ns/h/0/2026/02/16/14/30/05.avro", 0),
                     T_2026_02_16_14_30_05);
    assert_int_equal(rx_layout_time("2026/02/16/14/30/05.avro", 0), T_2026_02_16_14_30_05);
    assert_int_equal(rx_layout_time("/x/2026/02/16/14/30/05.avro.tmp", 1), T_2026_02_16_14_30_05);
    assert_int_equal(rx_layout_time("/x/2026/02/16/14/30/05.avro.tmp", 0), -1);
    assert_int_equal(rx_layout_time("/x/2026/02/16/14/30/5.avro", 0), -1);
    assert_int_equal(rx_layout_time("/x/2026/13/16/14/30/05.avro", 0), -1);
    assert_int_equal(rx_layout_time("/x/2026/02/16/24/30/05.avro", 0), -1);
    assert_int_equal(rx_layout_time("/x/2026-02/16/14/30/05.avro", 0), -1);
    assert_int_equal(rx_layout_time("/x/a2026/02/16/14/30/05.avro", 0), -1);
    assert_int_equal(rx_layout_time("05.avro", 0), -1);
}

static void test_enqueued_text(void **state)
{
    char t[RX_ENQ_TEXT_MAX];
    (void)state;
    assert_int_equal(rx_record_time_text(1591986754000LL, t), strlen("6/12/2020 6:32:34 PM"));
    assert_string_equal(t, "6/12/2020 6:32:34 PM"); /* 2020-06-12T18:32:34Z */
    rx_record_time_text(1593100049999LL, t);
    assert_string_equal(t, "6/25/2020 3:47:29 PM"); /* milliseconds are dropped, not rounded */
    rx_record_time_text(0, t);
    assert_string_equal(t, "1/1/1970 12:00:00 AM"); /* midnight is 12 AM */
    rx_record_time_text(43200000LL, t);
    assert_string_equal(t, "1/1/1970 12:00:00 PM"); /* noon is 12 PM */
    rx_record_time_text(T_2026_02_16_14_30_05 * 1000 + 123, t);
    assert_string_equal(t, "2/16/2026 2:30:05 PM");
    rx_record_time_text(1798761599000LL, t);
    assert_string_equal(t, "12/31/2026 11:59:59 PM");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_time_of_path),
        cmocka_unit_test(test_enqueued_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
