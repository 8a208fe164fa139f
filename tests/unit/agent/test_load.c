/* Files into the buffer: exactly once across interruptions, rejects kept in step. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/buffer/queue.h"
#include "agent/pipe/load.h"
#include "common/error.h"
#include "tests/unit/testutil.h"

struct fx {
    char dir[256];
    char buf[300];
    char csv[300];
    char rej[310];
    struct ag_queue *q;
};

static const char header[] =
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n";

/* rows rows; every 7th has a bad quantity. */
static void write_csv(const char *path, int from, int to, int append)
{
    FILE *f = fopen(path, append ? "a" : "w");
    assert_non_null(f);
    if (!append)
        fputs(header, f);
    for (int i = from; i <= to; i++)
        fprintf(f, "%d,85123A,ROW %d,%s,12/1/2010 8:26,2.55,17850,United Kingdom\n", 536000 + i, i,
                i % 7 ? "3" : "x");
    fclose(f);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_non_null(tu_mkdtemp(f->dir, sizeof f->dir, "load.XXXXXX"));
    snprintf(f->buf, sizeof f->buf, "%s/buf", f->dir);
    snprintf(f->csv, sizeof f->csv, "%s/in.csv", f->dir);
    snprintf(f->rej, sizeof f->rej, "%s/in.csv.rejects", f->dir);
    assert_int_equal(ag_queue_open(f->buf, NULL, &f->q), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    ag_queue_close(f->q);
    tu_rm_tree(f->dir);
    free(f);
    return 0;
}

static struct ag_load_opts opts(void)
{
    struct ag_load_opts o;
    ag_load_opts_default(&o);
    o.reader.device_id = "t-1";
    o.batch = 10;
    o.full_wait_ms = 0;
    return o;
}

/* Rows stored, by the number in "ROW n"; fails on a row stored twice. */
static int stored_rows(struct ag_queue *q, int maxrow)
{
    char *seen = calloc((size_t)maxrow + 1, 1);
    struct ag_iter *it;
    struct ag_record r;
    int n = 0;
    assert_int_equal(ag_iter_open(q, AG_SCOPE_ALL, 0, &it), 0);
    while (ag_iter_next(it, &r) == 0) {
        const char *p = memmem(r.json, r.json_len, "ROW ", 4);
        assert_non_null(p);
        int row = atoi(p + 4);
        assert_true(row > 0 && row <= maxrow);
        assert_int_equal(seen[row], 0);
        seen[row] = 1;
        n++;
    }
    ag_iter_close(it);
    free(seen);
    return n;
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    int c, n = 0;
    if (!f)
        return -1;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static void test_whole_file_once(void **state)
{
    struct fx *f = *state;
    struct ag_load_opts o = opts();
    struct ag_load_result res;
    struct ag_queue_stats st;
    write_csv(f->csv, 1, 100, 0);
    assert_int_equal(ag_load_file(f->q, f->csv, &o, &res), 0);
    assert_int_equal(res.events, 86);
    assert_int_equal(res.rejected, 14);
    assert_int_equal(stored_rows(f->q, 100), 86);
    assert_int_equal(count_lines(f->rej), 14);
    assert_int_equal(ag_queue_stats(f->q, &st), 0);
    assert_int_equal(st.counters[AG_CTR_REJECTED], 14);
    /* again: already done, nothing stored twice */
    assert_int_equal(ag_load_file(f->q, f->csv, &o, &res), HC_E_DONE);
    assert_int_equal(res.total_events, 86);
    assert_int_equal(stored_rows(f->q, 100), 86);
    /* appended rows: only those go in */
    sleep(0);
    write_csv(f->csv, 101, 120, 1);
    assert_int_equal(ag_load_file(f->q, f->csv, &o, &res), 0);
    assert_int_equal(res.events + res.rejected, 20);
    assert_int_equal(stored_rows(f->q, 120), 86 + (int)res.events);
    assert_int_equal(count_lines(f->rej), 14 + (int)res.rejected);
}

static volatile int stop_flag;
static int commits_before_stop;

static void stop_after(const struct ag_load_progress *p, void *arg)
{
    (void)p;
    (void)arg;
    if (--commits_before_stop == 0)
        stop_flag = 1;
}

static void test_stop_and_resume(void **state)
{
    struct fx *f = *state;
    struct ag_load_opts o = opts();
    struct ag_load_result res;
    int rounds = 0;
    write_csv(f->csv, 1, 1000, 0);
    o.stop = &stop_flag;
    o.on_commit = stop_after;
    for (;;) {
        stop_flag = 0;
        commits_before_stop = 3;
        int rc = ag_load_file(f->q, f->csv, &o, &res);
        rounds++;
        if (rc == 0)
            break;
        assert_int_equal(rc, HC_E_STOPPED);
        /* a crash after rejects were written but before the commit: junk past the checkpoint */
        FILE *j = fopen(f->rej, "a");
        assert_non_null(j);
        fputs("999999\tjunk from a killed run\n", j);
        fclose(j);
        assert_true(rounds < 100);
    }
    assert_true(rounds > 10);
    assert_int_equal(res.total_events, 1000 - 1000 / 7);
    assert_int_equal(stored_rows(f->q, 1000), 1000 - 1000 / 7);
    assert_int_equal(count_lines(f->rej), 1000 / 7);
}

static void test_full_buffer_then_continue(void **state)
{
    struct fx *f = *state;
    struct ag_load_opts o = opts();
    struct ag_load_result res;
    struct ag_queue_opts qo;
    struct ag_queue *small;
    char dir[320];
    int rc;
    snprintf(dir, sizeof dir, "%s/small", f->dir);
    ag_queue_opts_default(&qo);
    qo.max_bytes = 1 << 20;
    assert_int_equal(ag_queue_open(dir, &qo, &small), 0);
    write_csv(f->csv, 1, 20000, 0);
    rc = ag_load_file(small, f->csv, &o, &res);
    assert_int_equal(rc, HC_E_FULL);
    assert_true(res.events > 0);
    int held = stored_rows(small, 20000);
    assert_int_equal(held, (int)res.events);
    ag_queue_close(small);
    /* a bigger cap later: the same call continues, nothing twice */
    qo.max_bytes = 64 << 20;
    assert_int_equal(ag_queue_open(dir, &qo, &small), 0);
    assert_int_equal(ag_load_file(small, f->csv, &o, &res), 0);
    assert_int_equal(stored_rows(small, 20000), 20000 - 20000 / 7);
    ag_queue_close(small);
}

static void test_unreadable(void **state)
{
    struct fx *f = *state;
    struct ag_load_opts o = opts();
    struct ag_load_result res;
    char path[320];
    snprintf(path, sizeof path, "%s/missing.csv", f->dir);
    assert_int_equal(ag_load_file(f->q, path, &o, &res), -ENOENT);
    assert_int_equal(ag_load_file(f->q, f->dir, &o, &res), -EISDIR);
}

/* A path longer than an LMDB key still gets its own checkpoint. */
static void test_long_path(void **state)
{
    struct fx *f = *state;
    struct ag_load_opts o = opts();
    struct ag_load_result res;
    char dir[1024], path[1100];
    int n = snprintf(dir, sizeof dir, "%s/", f->dir);
    for (int part = 0; part < 2; part++) { /* 2 x 240: a name is at most 255 */
        memset(dir + n, 'd', 240);
        n += 240;
        dir[n] = '\0';
        assert_int_equal(mkdir(dir, 0755), 0);
        dir[n++] = '/';
    }
    dir[--n] = '\0';
    snprintf(path, sizeof path, "%s/in.csv", dir);
    write_csv(path, 1, 30, 0);
    assert_int_equal(ag_load_file(f->q, path, &o, &res), 0);
    assert_int_equal(res.events, 30 - 30 / 7);
    assert_int_equal(ag_load_file(f->q, path, &o, &res), HC_E_DONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_whole_file_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_and_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_buffer_then_continue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreadable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_path, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
