/* UUIDv7: layout, uniqueness and strict order, text round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "common/uuid.h"

static int cmp16(const void *a, const void *b)
{
    return memcmp(a, b, 16);
}

static void test_layout(void **state)
{
    struct hc_uuid7 g;
    uint8_t id[16];
    (void)state;
    hc_uuid7_init(&g, 42);
    hc_uuid7_next(&g, 1763780400123, id);
    assert_int_equal(id[6] >> 4, 7); /* version */
    assert_int_equal(id[8] >> 6, 2); /* variant 10 */
    assert_int_equal(hc_uuid7_ms(id), 1763780400123);
}

static void test_unique_and_ordered(void **state)
{
    enum { N = 200000 };
    struct hc_uuid7 g;
    uint8_t(*ids)[16] = malloc(N * 16);
    char a[HC_UUID_STRLEN], b[HC_UUID_STRLEN];
    (void)state;
    assert_non_null(ids);
    hc_uuid7_init(&g, 0);
    /* Many ids in few milliseconds, and a clock that steps back: still strictly increasing. */
    for (int i = 0; i < N; i++)
        hc_uuid7_next(&g, 1000 + i / 50000 - (i % 7 == 0), ids[i]);
    for (int i = 1; i < N; i++) {
        assert_true(memcmp(ids[i - 1], ids[i], 16) < 0);
        hc_uuid_format(ids[i - 1], a);
        hc_uuid_format(ids[i], b);
        assert_true(strcmp(a, b) < 0); /* text sorts like bytes */
    }
    qsort(ids, N, 16, cmp16);
    for (int i = 1; i < N; i++)
        assert_int_not_equal(memcmp(ids[i - 1], ids[i], 16), 0);
    free(ids);
}

static void test_two_generators_differ(void **state)
{
    struct hc_uuid7 g1, g2;
    uint8_t a[16], b[16];
    (void)state;
    hc_uuid7_init(&g1, 0);
    hc_uuid7_init(&g2, 0);
    hc_uuid7_next(&g1, 5000, a);
    hc_uuid7_next(&g2, 5000, b);
    assert_int_not_equal(memcmp(a, b, 16), 0);
}

static void test_seeded_is_deterministic(void **state)
{
    struct hc_uuid7 g1, g2;
    uint8_t a[16], b[16];
    (void)state;
    hc_uuid7_init(&g1, 7);
    hc_uuid7_init(&g2, 7);
    for (int i = 0; i < 1000; i++) {
        hc_uuid7_next(&g1, 5000 + i / 10, a);
        hc_uuid7_next(&g2, 5000 + i / 10, b);
        assert_memory_equal(a, b, 16);
    }
}

static void test_text(void **state)
{
    uint8_t id[16], back[16];
    char s[HC_UUID_STRLEN];
    struct hc_uuid7 g;
    (void)state;
    hc_uuid7_init(&g, 1);
    hc_uuid7_next(&g, 1763780400000, id);
    hc_uuid_format(id, s);
    assert_int_equal(strlen(s), 36);
    assert_int_equal(s[8], '-');
    assert_int_equal(s[14], '7');
    assert_int_equal(hc_uuid_parse(s, 36, back), 0);
    assert_memory_equal(id, back, 16);
    assert_int_equal(hc_uuid_parse("0190F3C2-7B1A-7000-8000-0123456789AB", 36, back), 0);
    assert_int_equal(back[0], 0x01);
    assert_int_equal(back[15], 0xab);
    assert_int_equal(hc_uuid_parse("0190f3c2-7b1a-7000-8000-0123456789a", 35, back), HC_E_PARSE);
    assert_int_equal(hc_uuid_parse("0190f3c2x7b1a-7000-8000-0123456789ab", 36, back), HC_E_PARSE);
    assert_int_equal(hc_uuid_parse("0190f3c2-7b1a-7000-8000-0123456789ag", 36, back), HC_E_PARSE);
    memset(back, 0, 16);
    assert_true(hc_uuid_is_nil(back));
    assert_false(hc_uuid_is_nil(id));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_unique_and_ordered),
        cmocka_unit_test(test_two_generators_differ),
        cmocka_unit_test(test_seeded_is_deterministic),
        cmocka_unit_test(test_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
