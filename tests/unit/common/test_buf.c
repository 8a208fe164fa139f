/* test_buf.c - common/buf.h: hc_hex_val, the one hex digit decoder of the tree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/buf.h"

static void test_hex_val(void **state)
{
    const char *digits = "0123456789abcdef", *upper = "ABCDEF";
    (void)state;
    for (int i = 0; i < 16; i++)
        assert_int_equal(hc_hex_val(digits[i]), i);
    for (int i = 0; i < 6; i++)
        assert_int_equal(hc_hex_val(upper[i]), 10 + i);
    assert_int_equal(hc_hex_val('g'), -1);
    assert_int_equal(hc_hex_val('G'), -1);
    assert_int_equal(hc_hex_val('/'), -1);
    assert_int_equal(hc_hex_val(':'), -1);
    assert_int_equal(hc_hex_val('\0'), -1);
    assert_int_equal(hc_hex_val((char)0xe9), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hex_val),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
