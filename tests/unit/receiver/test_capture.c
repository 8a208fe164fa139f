/*
 * test_capture.c - capture files: what rx_avro_file writes decodes back to the records given
 * (both codecs); a file cut at any byte, .tmp or closed, is recovered to its last complete block;
 * complete blocks after lost bytes or a lost header are kept; a partition folder resumes numbering
 * after the highest event on disk, set-aside files included, whatever state it was left in.
 */
#include <errno.h>
#include <fcntl.h>
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

#include "common/buf.h"
#include "common/error.h"
#include "receiver/capture/avro_enc.h"
#include "receiver/capture/avro_writer.h"
#include "receiver/capture/layout.h"
#include "receiver/capture/record.h"
#include "receiver/capture/recover.h"
#include "receiver/capture/scan.h"
#include "tests/unit/testutil.h"

#define BLOCK (64 * 1024)

static char root[512];

static int setup(void **state)
{
    (void)state;
    return tu_mkdtemp(root, sizeof root, "rx_capture_XXXXXX") ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return tu_rm_tree(root);
}

/* Event i: body "event-i" (null every 7th), key "dev-(i%3)" (none every 5th). */
static void make_event(int i, struct rx_event *ev, char *body, char *key)
{
    static const uint8_t empty_map[] = {0};
    memset(ev, 0, sizeof *ev);
    sprintf(body, "event-%d", i);
    sprintf(key, "dev-%d", i % 3);
    ev->body = i % 7 == 6 ? NULL : (const uint8_t *)body;
    ev->body_len = ev->body ? strlen(body) : 0;
    ev->pkey = i % 5 == 4 ? NULL : key;
    ev->pkey_len = ev->pkey ? strlen(key) : 0;
    ev->props = empty_map;
    ev->props_len = 1;
}

static int64_t offset_of(int i)
{
    int64_t off = 0;
    char b[32];
    for (int k = 0; k < i; k++) /* a null body (every 7th) advances it by one */
        off += k % 7 != 6 ? sprintf(b, "event-%d", k) : 1;
    return off;
}

/* Append events from..to-1 numbered from `from`. */
static void append_events(struct rx_avro_file *f, int from, int to)
{
    struct hc_buf rec = HC_BUF_INIT;
    char text[RX_ENQ_TEXT_MAX];
    for (int i = from; i < to; i++) {
        struct rx_event ev;
        char body[32], key[32];
        struct rx_record_meta m = {i, offset_of(i), 1591986754000LL + i, text, 0, NULL, 0};
        m.enq_text_len = rx_record_time_text(m.enq_ms, text);
        if (i % 4 == 0) {
            m.publisher = "pub-1";
            m.publisher_len = 5;
        }
        make_event(i, &ev, body, key);
        hc_buf_reset(&rec);
        assert_int_equal(rx_record_encode(&rec, &m, &ev), 0);
        assert_int_equal(rx_avro_file_append(f, rec.p, rec.len), 0);
    }
    hc_buf_free(&rec);
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *p;
    long n;
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    p = malloc((size_t)n + 1);
    assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

static void spit(const char *path, const uint8_t *p, size_t len)
{
    char dir[600];
    FILE *f;
    strcpy(dir, path);
    *strrchr(dir, '/') = '\0';
    assert_int_equal(rx_mkdirs(dir), 0);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, len, f), len);
    fclose(f);
}

struct expect {
    int next;
};

static int check_record(void *arg, const struct rx_record *r)
{
    struct expect *e = arg;
    char body[32], key[32], off[32], text[RX_ENQ_TEXT_MAX];
    struct rx_event ev;
    const uint8_t *v;
    size_t len;
    int64_t ms;
    int i = e->next++;
    make_event(i, &ev, body, key);
    assert_int_equal(r->seq, i);
    sprintf(off, "%lld", (long long)offset_of(i));
    assert_int_equal(r->offset_len, strlen(off));
    assert_memory_equal(r->offset, off, r->offset_len);
    rx_record_time_text(1591986754000LL + i, text);
    assert_int_equal(r->enq_len, strlen(text));
    assert_memory_equal(r->enq, text, r->enq_len);
    assert_int_equal(r->has_body, ev.body != NULL);
    if (ev.body) {
        assert_int_equal(r->body_len, ev.body_len);
        assert_memory_equal(r->body, ev.body, ev.body_len);
    }
    assert_int_equal(
        rx_record_map_get(r->sysprops, r->sysprops_len, "x-opt-enqueued-time", &v, &len),
        RX_AVRO_LONG);
    assert_int_equal(rx_avro_get_long(&v, v + len, &ms), 0);
    assert_int_equal(ms, 1591986754000LL + i);
    if (ev.pkey) {
        assert_int_equal(
            rx_record_map_get(r->sysprops, r->sysprops_len, "x-opt-partition-key", &v, &len),
            RX_AVRO_STRING);
        assert_memory_equal(v, key, len);
    } else {
        assert_int_equal(
            rx_record_map_get(r->sysprops, r->sysprops_len, "x-opt-partition-key", &v, &len), -1);
    }
    assert_int_equal(rx_record_map_get(r->sysprops, r->sysprops_len, "x-opt-publisher", &v, &len),
                     i % 4 == 0 ? RX_AVRO_STRING : -1);
    assert_int_equal(r->props_len, 1);
    return 0;
}

/* check_record over events 0-8, then 15 on (the blocks left after a lost middle). */
static int check_record_lost_middle(void *arg, const struct rx_record *r)
{
    struct expect *e = arg;
    if (e->next == 9)
        e->next = 15;
    return check_record(arg, r);
}

/* Every record of the file at path, checked; returns how many. */
static int check_file_from(const char *path, enum rx_codec codec, int first)
{
    size_t len;
    uint8_t *p = slurp(path, &len);
    struct rx_avro_scan s;
    struct expect e = {first};
    assert_int_equal(rx_avro_scan(p, len, &s), 0);
    assert_int_equal(s.good_len, len);
    assert_int_equal(s.codec, codec);
    assert_non_null(strstr((const char *)s.schema, "Microsoft.ServiceBus.Messaging"));
    assert_int_equal(rx_avro_scan_records(p, &s, 0, check_record, &e), 0);
    assert_int_equal(e.next - first, s.records);
    free(p);
    return e.next - first;
}

static int check_file(const char *path, enum rx_codec codec)
{
    return check_file_from(path, codec, 0);
}

static void write_and_read(enum rx_codec codec)
{
    char tmp[600], final[600];
    struct rx_avro_file *f;
    snprintf(tmp, sizeof tmp, "%s/%s/a/b/x.avro.tmp", root, rx_codec_name(codec));
    snprintf(final, sizeof final, "%s/%s/a/b/x.avro", root, rx_codec_name(codec));
    assert_int_equal(rx_avro_file_create(tmp, codec, BLOCK, &f, NULL), 0);
    assert_int_equal(rx_avro_file_create(tmp, codec, BLOCK, &f, NULL), -EEXIST);
    append_events(f, 0, 10);
    assert_int_equal(rx_avro_file_sync(f, NULL), 0);
    assert_int_equal(rx_avro_file_records(f), 10);
    append_events(f, 10, 1000); /* more than a block (64 KiB): new ones start by themselves */
    assert_int_equal(rx_avro_file_sync(f, NULL), 0);
    append_events(f, 1000, 1001);
    assert_int_equal(rx_avro_file_close(f, final), 0);
    assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(check_file(final, codec), 1001);
}

static void test_write_read_deflate(void **state)
{
    (void)state;
    write_and_read(RX_CODEC_DEFLATE);
}

static void test_write_read_null(void **state)
{
    (void)state;
    write_and_read(RX_CODEC_NULL);
}

static void test_too_big_record(void **state)
{
    char tmp[600], final[600];
    struct rx_avro_file *f;
    static char big[BLOCK];
    (void)state;
    snprintf(tmp, sizeof tmp, "%s/big.avro.tmp", root);
    snprintf(final, sizeof final, "%s/big.avro", root);
    assert_int_equal(rx_avro_file_create(tmp, RX_CODEC_NULL, BLOCK, &f, NULL), 0);
    assert_int_equal(rx_avro_file_append(f, big, sizeof big), HC_E_TOOBIG);
    assert_int_equal(rx_avro_file_close(f, final), 0);
}

/*
 * A file whose blocks end at known sizes, cut at every byte: recovery keeps exactly the complete
 * blocks, and removes the file when none is complete.
 */
static void test_recover_every_cut(void **state)
{
    char tmp[600], cut[600], final[600];
    struct rx_avro_file *f;
    uint64_t ends[6];
    int nrec[6] = {0, 3, 4, 9, 10, 12};
    uint8_t *p;
    size_t len;
    (void)state;
    snprintf(tmp, sizeof tmp, "%s/cut/full.avro.tmp", root);
    snprintf(cut, sizeof cut, "%s/cut/c.avro.tmp", root);
    snprintf(final, sizeof final, "%s/cut/c.avro", root);
    assert_int_equal(rx_avro_file_create(tmp, RX_CODEC_DEFLATE, BLOCK, &f, NULL), 0);
    assert_int_equal(rx_avro_file_sync(f, NULL), 0);
    ends[0] = rx_avro_file_synced_size(f);
    for (int b = 1; b < 6; b++) {
        append_events(f, nrec[b - 1], nrec[b]);
        assert_int_equal(rx_avro_file_sync(f, NULL), 0);
        ends[b] = rx_avro_file_synced_size(f);
    }
    rx_avro_file_abandon(f, tmp); /* leaves the complete file under tmp */
    p = slurp(tmp, &len);
    assert_int_equal(len, ends[5]);
    for (size_t n = 0; n <= len; n++) {
        int64_t kept;
        int b = 0;
        spit(cut, p, n);
        assert_int_equal(rx_recover_tmp(cut, 1, &kept), 0);
        while (b < 5 && ends[b + 1] <= n)
            b++;
        if (n < ends[0] || b == 0) {
            assert_int_equal(kept, -1); /* no complete block: removed (skip_empty) */
            assert_int_equal(access(cut, F_OK), -1);
            assert_int_equal(access(final, F_OK), -1);
            continue;
        }
        assert_int_equal(kept, (int64_t)ends[b]);
        assert_int_equal(access(cut, F_OK), -1);
        assert_int_equal(check_file(final, RX_CODEC_DEFLATE), nrec[b]);
        unlink(final);
    }
    /* skip_empty off: a header-only file is kept as an empty capture file */
    spit(cut, p, ends[0] + 5);
    int64_t kept;
    assert_int_equal(rx_recover_tmp(cut, 0, &kept), 0);
    assert_int_equal(kept, (int64_t)ends[0]);
    assert_int_equal(check_file(final, RX_CODEC_DEFLATE), 0);
    unlink(final);
    free(p);
}

static void test_abandon_keeps_synced(void **state)
{
    char tmp[600], final[600];
    struct rx_avro_file *f;
    (void)state;
    snprintf(tmp, sizeof tmp, "%s/ab/x.avro.tmp", root);
    snprintf(final, sizeof final, "%s/ab/x.avro", root);
    assert_int_equal(rx_avro_file_create(tmp, RX_CODEC_NULL, BLOCK, &f, NULL), 0);
    append_events(f, 0, 5);
    assert_int_equal(rx_avro_file_sync(f, NULL), 0);
    append_events(f, 5, 9); /* not synced: must not survive */
    assert_int_equal(rx_avro_file_abandon(f, final), 0);
    assert_int_equal(check_file(final, RX_CODEC_NULL), 5);
    /* nothing synced: the file goes */
    assert_int_equal(rx_avro_file_create(tmp, RX_CODEC_NULL, BLOCK, &f, NULL), 0);
    append_events(f, 0, 3);
    assert_int_equal(rx_avro_file_abandon(f, final), 0);
    assert_int_equal(access(tmp, F_OK), -1);
}

/* Write events from..to-1 into the partition folder as the file of second t (tmp or final). */
static void partition_file(const char *pdir, int64_t t, int from, int to, int tmp)
{
    char tpath[600], fpath[600];
    struct rx_avro_file *f;
    assert_true(rx_layout_file(tpath, sizeof tpath, pdir, t, 1) > 0);
    assert_true(rx_layout_file(fpath, sizeof fpath, pdir, t, 0) > 0);
    assert_int_equal(rx_avro_file_create(tpath, RX_CODEC_DEFLATE, BLOCK, &f, NULL), 0);
    append_events(f, from, to);
    if (tmp) {
        assert_int_equal(rx_avro_file_sync(f, NULL), 0);
        append_events(f, to, to + 3);
        assert_int_equal(rx_avro_file_sync(f, NULL), 0);
        assert_int_equal(rx_avro_file_abandon(f, tpath), 0);
        /* a crash in the middle of writing the second block: cut its end off */
        struct stat st;
        assert_int_equal(stat(tpath, &st), 0);
        assert_int_equal(truncate(tpath, st.st_size - 7), 0);
    } else {
        assert_int_equal(rx_avro_file_close(f, fpath), 0);
    }
}

static void test_recover_partition(void **state)
{
    char pdir[600], path[600];
    struct rx_recovery r;
    int64_t t0 = 1771252205;
    (void)state;
    snprintf(pdir, sizeof pdir, "%s/ns/hub/0", root);
    /* nothing yet */
    assert_int_equal(rx_recover_partition(pdir, 1, NULL, NULL, &r), 0);
    assert_int_equal(r.next_seq, 0);
    assert_int_equal(r.next_offset, 0);
    assert_int_equal(r.last_name_s, -1);
    /* two finished files */
    partition_file(pdir, t0, 0, 10, 0);
    partition_file(pdir, t0 + 3600 + 61, 10, 20, 0);
    assert_int_equal(rx_recover_partition(pdir, 1, NULL, NULL, &r), 0);
    assert_int_equal(r.next_seq, 20);
    assert_int_equal(r.next_offset, offset_of(20));
    assert_int_equal(r.last_name_s, t0 + 3600 + 61);
    /* a file left mid-write (its last block cut): recovered to the synced events */
    partition_file(pdir, t0 + 7200, 20, 26, 1);
    assert_int_equal(rx_recover_partition(pdir, 1, NULL, NULL, &r), 0);
    assert_int_equal(r.recovered, 1);
    assert_true(r.cut_bytes > 0);
    assert_int_equal(r.next_seq, 26);
    assert_int_equal(r.next_offset, offset_of(26));
    assert_int_equal(r.last_name_s, t0 + 7200);
    assert_true(rx_layout_file(path, sizeof path, pdir, t0 + 7200, 0) > 0);
    assert_int_equal(check_file_from(path, RX_CODEC_DEFLATE, 20), 6);
    /* a newer file that is not Avro: set aside, numbering from the one before */
    assert_true(rx_layout_file(path, sizeof path, pdir, t0 + 9000, 0) > 0);
    spit(path, (const uint8_t *)"garbage", 7);
    assert_int_equal(rx_recover_partition(pdir, 1, NULL, NULL, &r), 0);
    assert_int_equal(r.set_aside, 1);
    assert_int_equal(r.next_seq, 26);
    assert_int_equal(r.last_name_s, t0 + 9000); /* its name stays taken */
    strcat(path, ".corrupt");
    assert_int_equal(access(path, F_OK), 0);
    /* a temporary file with nothing complete in it: removed */
    assert_true(rx_layout_file(path, sizeof path, pdir, t0 + 9500, 1) > 0);
    spit(path, (const uint8_t *)"Obj\x01", 4);
    assert_int_equal(rx_recover_partition(pdir, 1, NULL, NULL, &r), 0);
    assert_int_equal(r.removed, 1);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(r.next_seq, 26);
}

/*
 * A closed file at second t of pdir with blocks of events: block b holds events ends[b-1] to
 * ends[b]-1 (ends[0] = first). off[b] gets the file length after block b (off[0]: the header).
 */
static void blocks_file(const char *pdir, int64_t t, const int *ends, int nblocks, uint64_t *off)
{
    char tpath[600], fpath[600];
    struct rx_avro_file *f;
    assert_true(rx_layout_file(tpath, sizeof tpath, pdir, t, 1) > 0);
    assert_true(rx_layout_file(fpath, sizeof fpath, pdir, t, 0) > 0);
    assert_int_equal(rx_avro_file_create(tpath, RX_CODEC_DEFLATE, BLOCK, &f, NULL), 0);
    assert_int_equal(rx_avro_file_sync(f, NULL), 0);
    off[0] = rx_avro_file_synced_size(f);
    for (int b = 1; b <= nblocks; b++) {
        append_events(f, ends[b - 1], ends[b]);
        assert_int_equal(rx_avro_file_sync(f, NULL), 0);
        off[b] = rx_avro_file_synced_size(f);
    }
    assert_int_equal(rx_avro_file_close(f, fpath), 0);
}

static int count_files(const char *dir, const char *ext)
{
    char cmd[800], line[64];
    FILE *p;
    snprintf(cmd, sizeof cmd, "find '%s' -name '*%s' | wc -l", dir, ext);
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(line, sizeof line, p));
    pclose(p);
    return atoi(line);
}

/* Recover pdir: nothing set aside, numbering next; the files decode from 0 to next. */
static void recover_expect(const char *pdir, int64_t next, struct rx_recovery *r)
{
    assert_int_equal(rx_recover_partition(pdir, 1, NULL, NULL, r), 0);
    assert_int_equal(r->next_seq, next);
    assert_int_equal(r->next_offset, offset_of((int)next));
}

/*
 * A CLOSED file whose tail is incomplete (what the old writer left on a full disk) is cut back to
 * its last complete block, exactly as a .tmp is, at cut points all along it (every 11th byte):
 * never set aside, and numbering goes on after what is left.
 */
static void test_recover_closed_torn(void **state)
{
    char pdir[600], path[600];
    int ends[] = {0, 4, 9, 15};
    uint64_t off[4];
    struct rx_recovery r;
    int64_t t = 1771252205;
    uint8_t *p;
    size_t len;
    (void)state;
    snprintf(pdir, sizeof pdir, "%s/torn/hub/0", root);
    blocks_file(pdir, t, ends, 3, off);
    assert_true(rx_layout_file(path, sizeof path, pdir, t, 0) > 0);
    p = slurp(path, &len);
    for (size_t n = off[0]; n < len; n += 11) {
        int b = 0;
        while (b < 3 && off[b + 1] <= n)
            b++;
        spit(path, p, n);
        recover_expect(pdir, ends[b], &r);
        assert_int_equal(r.set_aside, 0);
        assert_int_equal(r.recovered, n == off[b] ? 0 : 1);
        assert_int_equal(r.cut_bytes, (int64_t)(n - off[b]));
        assert_int_equal(count_files(pdir, ".corrupt"), 0);
        assert_int_equal(check_file(path, RX_CODEC_DEFLATE), ends[b]);
    }
    free(p);
}

/*
 * Bytes lost in the middle of a closed file (a write dropped, later ones kept, as glibc did after
 * a failed write): the file is rebuilt from every complete block, before and after the damage.
 */
static void test_recover_lost_middle(void **state)
{
    char pdir[600], path[600];
    int ends[] = {0, 4, 9, 15, 20};
    uint64_t off[5];
    struct rx_recovery r;
    struct rx_avro_scan s;
    struct expect e = {0};
    int64_t t = 1771252205;
    uint8_t *p, *q;
    size_t len, n, qlen;
    (void)state;
    snprintf(pdir, sizeof pdir, "%s/middle/hub/0", root);
    blocks_file(pdir, t, ends, 4, off);
    assert_true(rx_layout_file(path, sizeof path, pdir, t, 0) > 0);
    p = slurp(path, &len);
    /* drop the end of block 2 (in its sync marker) and the start of block 3: blocks 1, 2 (its
     * data whole) and 4 remain */
    n = (size_t)(off[2] - 10);
    spit(path, p, n);
    {
        FILE *f = fopen(path, "ab");
        assert_non_null(f);
        assert_int_equal(fwrite(p + off[2] + 10, 1, len - off[2] - 10, f), len - off[2] - 10);
        fclose(f);
    }
    recover_expect(pdir, 20, &r);
    assert_int_equal(r.recovered, 1);
    assert_int_equal(r.set_aside, 0);
    q = slurp(path, &qlen);
    assert_int_equal(qlen, off[2] + (off[4] - off[3]));
    assert_int_equal(rx_avro_scan(q, qlen, &s), 0);
    assert_int_equal(s.good_len, qlen);
    assert_int_equal(s.records, 4 + 5 + 5);
    e.next = 0; /* blocks 1 and 2: events 0-8, then block 4: 15-19 */
    assert_int_equal(rx_avro_scan_records(q, &s, 0, check_record_lost_middle, &e), 0);
    free(q);
    free(p);
}

/*
 * A file whose header is lost (its first bytes gone) is set aside in place (renamed *.corrupt,
 * bytes kept), its complete blocks are written anew under its final name, and numbering goes on
 * after them.
 */
static void test_recover_lost_header(void **state)
{
    char pdir[600], path[600], aside[620];
    int ends[] = {0, 4, 9, 15};
    uint64_t off[4];
    struct rx_recovery r;
    int64_t t = 1771252205;
    uint8_t *p, *q;
    size_t len, qlen;
    (void)state;
    snprintf(pdir, sizeof pdir, "%s/header/hub/0", root);
    blocks_file(pdir, t, ends, 3, off);
    assert_true(rx_layout_file(path, sizeof path, pdir, t, 0) > 0);
    p = slurp(path, &len);
    spit(path, p + 100, len - 100); /* magic and most of the schema gone */
    recover_expect(pdir, 15, &r);
    assert_int_equal(r.set_aside, 1);
    assert_int_equal(r.repaired, 1);
    snprintf(aside, sizeof aside, "%s.corrupt", path);
    q = slurp(aside, &qlen);
    assert_int_equal(qlen, len - 100);
    assert_memory_equal(q, p + 100, qlen);
    free(q);
    assert_int_equal(check_file(path, RX_CODEC_DEFLATE), 15);
    /* a second start: nothing more to do, nothing set aside again */
    recover_expect(pdir, 15, &r);
    assert_int_equal(r.set_aside + r.repaired + r.recovered, 0);
    free(p);
}

/*
 * Numbering continues after the highest number in ANY file, set-aside ones included: here a file
 * set aside (unreadable header, its final name taken) holds events above the newest file's.
 */
static void test_recover_numbering_after_aside(void **state)
{
    char pdir[600], path[600], aside[620];
    int low[] = {0, 10}, high[] = {10, 20}, top[] = {20, 26, 30};
    uint64_t off[3];
    struct rx_recovery r;
    int64_t t = 1771252205;
    uint8_t *p;
    size_t len;
    (void)state;
    snprintf(pdir, sizeof pdir, "%s/aside/hub/0", root);
    blocks_file(pdir, t + 60, top, 2, off); /* events 20-29, then set aside below */
    assert_true(rx_layout_file(path, sizeof path, pdir, t + 60, 0) > 0);
    p = slurp(path, &len);
    unlink(path);
    blocks_file(pdir, t, low, 1, off);
    blocks_file(pdir, t + 120, high, 1, off);
    assert_true(rx_layout_file(path, sizeof path, pdir, t, 0) > 0);
    snprintf(aside, sizeof aside, "%s.corrupt", path);
    p[0] = 'X'; /* not "Obj\x01" */
    spit(aside, p, len);
    recover_expect(pdir, 30, &r);
    assert_int_equal(r.set_aside, 0); /* it already was */
    assert_int_equal(r.repaired, 0);  /* its final name is taken */
    assert_int_equal(access(aside, F_OK), 0);
    assert_int_equal(r.last_name_s, t + 120);
    free(p);
}

/* An older receiver set torn files aside as *.corrupt: they come back, cut, under their name. */
static void test_recover_old_corrupt(void **state)
{
    char pdir[600], path[600], aside[620];
    int ends[] = {0, 4, 9};
    uint64_t off[3];
    struct rx_recovery r;
    int64_t t = 1771252205;
    (void)state;
    snprintf(pdir, sizeof pdir, "%s/old/hub/0", root);
    blocks_file(pdir, t, ends, 2, off);
    assert_true(rx_layout_file(path, sizeof path, pdir, t, 0) > 0);
    snprintf(aside, sizeof aside, "%s.corrupt", path);
    assert_int_equal(rename(path, aside), 0);
    assert_int_equal(truncate(aside, (off_t)off[2] - 3), 0);
    recover_expect(pdir, 4, &r);
    assert_int_equal(r.recovered, 1);
    assert_int_equal(access(aside, F_OK), -1);
    assert_int_equal(check_file(path, RX_CODEC_DEFLATE), 4);
}

/* Records of a block that decodes: sequence numbers rising (zeroed bytes can decode as seq 0). */
static int strictly_after(void *arg, const struct rx_record *r)
{
    int64_t *last = arg;
    if (r->seq <= *last || r->offset_len == 0)
        return HC_E_PARSE;
    *last = r->seq;
    return 0;
}

struct folder_count {
    const uint8_t *p;
    enum rx_codec codec;
    int64_t records, last;
};

static int count_block(void *arg, const struct rx_avro_block *b)
{
    struct folder_count *c = arg;
    int64_t last = c->last;
    if (rx_avro_block_records(c->p, b, c->codec, strictly_after, &last) == 0) {
        c->records += b->count;
        c->last = last;
    }
    return 0;
}

/*
 * The records of the blocks that decode in every *.avro under pdir (each file whole up to its
 * last block; sequence numbers rising). A block hit inside its data keeps its frame: it stays, and
 * only the lander can say it does not decode.
 */
static int64_t folder_records(const char *pdir, int64_t *last)
{
    char cmd[700], path[700];
    struct folder_count c = {NULL, RX_CODEC_DEFLATE, 0, -1};
    FILE *ls;
    snprintf(cmd, sizeof cmd, "find '%s' -name '*.avro' | sort", pdir);
    ls = popen(cmd, "r");
    assert_non_null(ls);
    while (fgets(path, sizeof path, ls)) {
        struct rx_avro_scan s;
        uint8_t *p;
        size_t len;
        path[strcspn(path, "\n")] = '\0';
        p = slurp(path, &len);
        assert_int_equal(rx_avro_scan(p, len, &s), 0);
        assert_int_equal(s.good_len, len);
        c.p = p;
        c.codec = s.codec;
        assert_int_equal(rx_avro_scan_blocks(p, &s, count_block, &c), 0);
        free(p);
    }
    pclose(ls);
    *last = c.last;
    return c.records;
}

struct salvaged {
    const uint8_t *p;
    size_t len;
    const struct rx_avro_salvage *out; /* its codec */
    int64_t blocks;
};

static int count_record(void *arg, const struct rx_record *r)
{
    (void)r;
    (*(int64_t *)arg)++;
    return 0;
}

/* Every block salvage gives lies inside the bytes and decodes to its count of records. */
static int salvaged_block(void *arg, const struct rx_avro_block *b)
{
    struct salvaged *sv = arg;
    int64_t n = 0;
    assert_true(b->off + b->len <= sv->len);
    assert_true(b->data_off >= b->off && b->data_off + b->data_len + 16 == b->off + b->len);
    assert_int_equal(rx_avro_block_records(sv->p, b, sv->out->codec, count_record, &n), 0);
    assert_int_equal(n, b->count);
    sv->blocks++;
    return 0;
}

/*
 * Damaged copies of a file (bytes flipped, cut out, doubled, zeroed, the header hit too): the
 * salvage never reads outside the bytes, and every block it gives decodes (under ASan in CI).
 * Undamaged blocks after the damage are found.
 */
static void test_salvage_damaged(void **state)
{
    char pdir[600], path[600];
    int ends[] = {0, 10, 30, 60, 100, 130};
    uint64_t off[6];
    char aside[620];
    struct rx_recovery r;
    int64_t last;
    uint8_t *p, *q;
    size_t len;
    unsigned seed = 12;
    (void)state;
    snprintf(pdir, sizeof pdir, "%s/salvage/hub/0", root);
    blocks_file(pdir, 1771252205, ends, 5, off);
    assert_true(rx_layout_file(path, sizeof path, pdir, 1771252205, 0) > 0);
    snprintf(aside, sizeof aside, "%s.corrupt", path);
    p = slurp(path, &len);
    q = malloc(2 * len);
    for (int round = 0; round < 160; round++) {
        struct rx_avro_scan hs;
        struct rx_avro_salvage out;
        struct salvaged sv;
        size_t n = len, at = (size_t)rand_r(&seed) % len, k = 1 + (size_t)rand_r(&seed) % 64;
        memcpy(q, p, len);
        if (at + k > n)
            k = n - at;
        switch (round % 4) {
        case 0: /* flip */
            for (size_t i = 0; i < k; i++)
                q[at + i] ^= (uint8_t)(1 + rand_r(&seed) % 255);
            break;
        case 1: /* cut out */
            memmove(q + at, q + at + k, n - at - k);
            n -= k;
            break;
        case 2: /* doubled */
            memmove(q + at + k, q + at, n - at);
            n += k;
            break;
        default: /* zeroed */
            memset(q + at, 0, k);
        }
        sv = (struct salvaged){q, n, &out, 0};
        assert_int_equal(rx_avro_salvage(q, n, 0, NULL, &out, salvaged_block, &sv), 0);
        assert_int_equal(sv.blocks, out.blocks);
        if (out.blocks) {
            assert_int_equal(out.codec, RX_CODEC_DEFLATE);
            assert_true(out.blocks >= 3); /* one change hits at most two blocks */
        }
        if (rx_avro_scan_header(q, n, &hs) == 0) { /* a header that reads may still lie */
            assert_int_equal(rx_avro_salvage(q, n, hs.header_len, &hs, &out, salvaged_block, &sv),
                             0);
        }
        /* the recovery of it as a closed file keeps 3 blocks at least, in order */
        spit(path, q, n);
        assert_int_equal(rx_recover_partition(pdir, 1, NULL, NULL, &r), 0);
        assert_true(folder_records(pdir, &last) >= 60);
        assert_true(r.next_seq > last);
        unlink(aside);
    }
    free(q);
    free(p);
}

/* A map in two blocks, the first with a negative count and its size: every entry, then the end. */
/* An empty .avro.tmp (a crash right after create) and an empty closed .avro: nothing to read,
 * nothing computed from the NULL an empty file maps to (found by fuzz_recover: UBSan). */
static void test_recover_empty(void **state)
{
    char path[600], pdir[600];
    struct rx_avro_scan s;
    struct rx_recovery r;
    int64_t kept = 0;
    (void)state;
    assert_int_equal(rx_avro_scan(NULL, 0, &s), HC_E_PARSE);
    assert_int_equal(rx_avro_scan_header(NULL, 0, &s), HC_E_PARSE);
    snprintf(path, sizeof path, "%s/00.avro.tmp", root);
    spit(path, (const uint8_t *)"", 0);
    assert_int_equal(rx_recover_tmp(path, 1, &kept), 0);
    assert_int_equal(kept, -1);
    assert_int_equal(access(path, F_OK), -1);
    snprintf(pdir, sizeof pdir, "%s/empty", root);
    assert_true(rx_layout_file(path, sizeof path, pdir, 1795341600, 0) > 0);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    assert_int_equal(rx_mkdirs(path), 0);
    *slash = '/';
    spit(path, (const uint8_t *)"", 0);
    assert_int_equal(rx_recover_partition(pdir, 1, NULL, NULL, &r), 0);
    assert_int_equal(r.next_seq, 0);
}

/* Numbering goes on after the highest sequence number of the last block that decodes, when a
 * damaged block holds them out of order (found by fuzz_recover: the last one was taken). */
static void test_recover_numbering_highest(void **state)
{
    static const int seqs[] = {5, 9, 2};
    char tpath[600], fpath[600], pdir[600], text[RX_ENQ_TEXT_MAX];
    struct rx_avro_file *f;
    struct hc_buf rec = HC_BUF_INIT;
    struct rx_recovery r;
    (void)state;
    snprintf(pdir, sizeof pdir, "%s/unordered", root);
    assert_true(rx_layout_file(tpath, sizeof tpath, pdir, 1795341600, 1) > 0);
    assert_true(rx_layout_file(fpath, sizeof fpath, pdir, 1795341600, 0) > 0);
    assert_int_equal(rx_avro_file_create(tpath, RX_CODEC_NULL, BLOCK, &f, NULL), 0);
    for (int i = 0; i < 3; i++) {
        struct rx_event ev;
        char body[32], key[32];
        struct rx_record_meta m = {seqs[i], 100 * seqs[i], 1591986754000LL, text, 0, NULL, 0};
        m.enq_text_len = rx_record_time_text(m.enq_ms, text);
        make_event(i, &ev, body, key);
        hc_buf_reset(&rec);
        assert_int_equal(rx_record_encode(&rec, &m, &ev), 0);
        assert_int_equal(rx_avro_file_append(f, rec.p, rec.len), 0);
    }
    hc_buf_free(&rec);
    assert_int_equal(rx_avro_file_close(f, fpath), 0);
    assert_int_equal(rx_recover_partition(pdir, 1, NULL, NULL, &r), 0);
    assert_int_equal(r.next_seq, 10);
    assert_int_equal(r.next_offset, 900 + (int64_t)strlen("event-1"));
}

static void test_map_blocks(void **state)
{
    struct hc_buf b = HC_BUF_INIT;
    const char *keys[] = {"a", "bb", "ccc"};
    const uint8_t *p, *end, *k, *v;
    size_t kn, vn, block;
    int64_t left = 0;
    int n = 0, rc;
    (void)state;
    assert_int_equal(rx_avro_put_long(&b, -2), 0);
    assert_int_equal(rx_avro_put_long(&b, 10),
                     0); /* bytes of the block: (1+1 + 1+1) + (1+2 + 1+2) */
    block = b.len;
    assert_int_equal(rx_avro_put_bytes(&b, "a", 1), 0);
    assert_int_equal(rx_avro_put_bytes(&b, "1", 1), 0);
    assert_int_equal(rx_avro_put_bytes(&b, "bb", 2), 0);
    assert_int_equal(rx_avro_put_bytes(&b, "22", 2), 0);
    assert_int_equal(b.len - block, 10);
    assert_int_equal(rx_avro_put_long(&b, 1), 0);
    assert_int_equal(rx_avro_put_bytes(&b, "ccc", 3), 0);
    assert_int_equal(rx_avro_put_bytes(&b, "333", 3), 0);
    assert_int_equal(rx_avro_put_long(&b, 0), 0);
    assert_int_equal(rx_avro_put_long(&b, 7), 0); /* what follows the map: one byte */

    p = (const uint8_t *)b.p;
    end = p + b.len;
    while ((rc = rx_avro_map_next(&p, end, &left)) > 0) {
        assert_true(n < 3);
        assert_int_equal(rx_avro_get_bytes(&p, end, &k, &kn), 0);
        assert_int_equal(rx_avro_get_bytes(&p, end, &v, &vn), 0);
        assert_int_equal(kn, strlen(keys[n]));
        assert_memory_equal(k, keys[n], kn);
        assert_int_equal(vn, kn);
        n++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(n, 3);
    assert_int_equal(end - p, 1);

    /* cut before the end marker: an error, not the end */
    p = (const uint8_t *)b.p;
    end = p + b.len - 2;
    left = 0;
    while ((rc = rx_avro_map_next(&p, end, &left)) > 0) {
        assert_int_equal(rx_avro_get_bytes(&p, end, &k, &kn), 0);
        assert_int_equal(rx_avro_get_bytes(&p, end, &v, &vn), 0);
    }
    assert_int_equal(rc, HC_E_PARSE);
    hc_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_read_deflate),
        cmocka_unit_test(test_write_read_null),
        cmocka_unit_test(test_too_big_record),
        cmocka_unit_test(test_recover_every_cut),
        cmocka_unit_test(test_abandon_keeps_synced),
        cmocka_unit_test(test_recover_partition),
        cmocka_unit_test(test_recover_closed_torn),
        cmocka_unit_test(test_recover_lost_middle),
        cmocka_unit_test(test_recover_lost_header),
        cmocka_unit_test(test_recover_numbering_after_aside),
        cmocka_unit_test(test_recover_old_corrupt),
        cmocka_unit_test(test_salvage_damaged),
        cmocka_unit_test(test_map_blocks),
        cmocka_unit_test(test_recover_empty),
        cmocka_unit_test(test_recover_numbering_highest),
    };
    return cmocka_run_group_tests(tests, setup, getenv("RX_KEEP") ? NULL : teardown);
}
