/*
 * test_hash.c - partition keys land where Event Hubs puts them: lookup3 against Bob Jenkins'
 * published vectors, and the partition of a key against an independent computation (a Python
 * transcription of the Azure SDK's PartitionResolver, run once to make the table below).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "receiver/partition/hash.h"

static void test_lookup3_vectors(void **state)
{
    uint32_t c, b;
    const char *four = "Four score and seven years ago";
    (void)state;
    rx_lookup3("", 0, 0, 0, &c, &b);
    assert_int_equal(c, 0xdeadbeef);
    assert_int_equal(b, 0xdeadbeef);
    rx_lookup3("", 0, 0, 0xdeadbeef, &c, &b);
    assert_int_equal(c, 0xbd5b7dde);
    assert_int_equal(b, 0xdeadbeef);
    rx_lookup3("", 0, 0xdeadbeef, 0xdeadbeef, &c, &b);
    assert_int_equal(c, 0x9c093ccd);
    assert_int_equal(b, 0xbd5b7dde);
    rx_lookup3(four, 30, 0, 0, &c, &b);
    assert_int_equal(c, 0x17770551);
    assert_int_equal(b, 0xce7226e6);
    rx_lookup3(four, 30, 0, 1, &c, &b);
    assert_int_equal(c, 0xe3607cae);
    assert_int_equal(b, 0xbd371de4);
    rx_lookup3(four, 30, 1, 0, &c, &b);
    assert_int_equal(c, 0xcd628161);
    assert_int_equal(b, 0x6cbea4b3);
}

static const struct {
    const char *key;
    int16_t hash;
    int p4, p32;
} keys[] = {
    {"pi-0001", 516, 0, 4},
    {"pi-0007", 25197, 1, 13},
    {"device-42", -21548, 0, 12},
    {"", 0, 0, 0},
    {"a", -16220, 0, 28},
    {"abcdefghijkl", -2373, 1, 5},    /* exactly 12 bytes: no mixing round */
    {"abcdefghijklm", -31855, 3, 15}, /* 13: one round, then a tail of 1 */
    {"0123456789abcdefghijklmnopqrstuvwxyz", -27223, 3, 23},
    {"\xc3\x9cn\xc3\xaf\x63\xc3\xb8\x64\xc3\xa9 \xe2\x9c\x93", -28951, 3, 23}, /* "Ünïcødé ✓" */
    {"32119834-65f3-48c1-b366-619df2e4c400", -9466, 2, 26},
};

static void test_partition_of_key(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        size_t n = strlen(keys[i].key);
        assert_int_equal(rx_partition_hash(keys[i].key, n), keys[i].hash);
        assert_int_equal(rx_partition_for_key(keys[i].key, n, 4), keys[i].p4);
        assert_int_equal(rx_partition_for_key(keys[i].key, n, 32), keys[i].p32);
        assert_int_equal(rx_partition_for_key(keys[i].key, n, 1), 0);
    }
}

/* Many device ids spread over the partitions (none is starved). */
static void test_spread(void **state)
{
    int count[8] = {0};
    char key[32];
    (void)state;
    for (int i = 0; i < 8000; i++) {
        int n = snprintf(key, sizeof key, "pi-%04d", i);
        int p = rx_partition_for_key(key, (size_t)n, 8);
        assert_true(p >= 0 && p < 8);
        count[p]++;
    }
    for (int p = 0; p < 8; p++)
        assert_true(count[p] > 700 && count[p] < 1300);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup3_vectors),
        cmocka_unit_test(test_partition_of_key),
        cmocka_unit_test(test_spread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
