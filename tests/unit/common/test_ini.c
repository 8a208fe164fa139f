/* test_ini.c - hc_ini_load: the line a key stands on, inih's error line, a missing file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>

#include "common/ini.h"
#include "tests/unit/testutil.h"

struct seen {
    int *line;
    char keys[256];
};

/* Note "section.key@line;" for each key; a key named "stop" fails. */
static int on_key(void *arg, const char *section, const char *k, const char *v)
{
    struct seen *s = arg;
    size_t n = strlen(s->keys);
    (void)v;
    snprintf(s->keys + n, sizeof s->keys - n, "%s.%s@%d;", section, k, *s->line);
    return strcmp(k, "stop") != 0;
}

#define WRITE(name, text) tu_write_tmp("test_ini", (name), (text), sizeof(text) - 1)

static void test_lines(void **state)
{
    int line = -1;
    struct seen s = {&line, ""};
    (void)state;
    assert_int_equal(
        hc_ini_load(WRITE("ok.ini", "; note\n[a]\nx = 1\n\n[b]\ny = 2\n"), on_key, &s, &line), 0);
    assert_string_equal(s.keys, "a.x@3;b.y@6;");
    assert_int_equal(line, 6);
}

static void test_error_line(void **state)
{
    int line = 0;
    struct seen s = {&line, ""};
    (void)state;
    /* Not INI syntax on line 3; the handler refuses line 5: inih reports the first. */
    assert_int_equal(hc_ini_load(WRITE("bad.ini", "[a]\nx = 1\nno equals\ny = 2\nstop = 1\n"),
                                 on_key, &s, &line),
                     3);
    s.keys[0] = '\0';
    assert_int_equal(hc_ini_load(WRITE("stop.ini", "[a]\nx = 1\nstop = 1\n"), on_key, &s, &line),
                     3);
    assert_string_equal(s.keys, "a.x@2;a.stop@3;");
}

static void test_missing_file(void **state)
{
    int line = 7;
    struct seen s = {&line, ""};
    (void)state;
    assert_int_equal(hc_ini_load("/nonexistent/x.ini", on_key, &s, &line), -ENOENT);
    assert_int_equal(line, 0);
    assert_string_equal(s.keys, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_error_line),
        cmocka_unit_test(test_missing_file),
    };
    return cmocka_run_group_tests(tests, NULL, tu_remove_tmp_files);
}
