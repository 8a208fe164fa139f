/*
 * fuzz_recover.c - the capture recovery of receiver/capture/recover.h on the bytes of a damaged
 * .avro, on disk (a folder under /dev/shm, or $TMPDIR). The first byte chooses how it lies
 * there, the rest is the file:
 *   even: "00.avro.tmp", the file being written at a crash (rx_recover_tmp);
 *   odd:  a closed "00.avro" in a partition folder YYYY/MM/DD/hh/mm (rx_recover_partition).
 * What is left under the final name must be a whole Avro file: its header, then complete blocks
 * only, up to its last byte; and the numbering goes on after the highest sequence number of the
 * last block that decodes.
 */
#include <fcntl.h>
#include <ftw.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "receiver/capture/recover.h"
#include "receiver/capture/scan.h"
#include "tests/fuzz/fuzz.h"

struct count {
    int64_t n, max_seq;
};

static int count_record(void *ctx, const struct rx_record *r)
{
    struct count *c = ctx;
    c->n++;
    if (r->seq > c->max_seq)
        c->max_seq = r->seq;
    return 0;
}

struct last {
    const uint8_t *p;
    enum rx_codec codec;
    int64_t seq; /* the last record's of the last block that decodes, -1 when none */
};

/* A record the numbering can start from: a sequence number and a decimal offset (recover.c). */
static int numbered_record(void *ctx, const struct rx_record *r)
{
    if (r->seq < 0 || r->seq == INT64_MAX || r->offset_len == 0 || r->offset_len > 18)
        return HC_E_PARSE;
    for (size_t i = 0; i < r->offset_len; i++)
        if (r->offset[i] < '0' || r->offset[i] > '9')
            return HC_E_PARSE;
    return count_record(ctx, r);
}

static int last_of_block(void *ctx, const struct rx_avro_block *b)
{
    struct last *l = ctx;
    struct count c = {0, -1};
    if (rx_avro_block_records(l->p, b, l->codec, numbered_record, &c) == 0 && c.n == b->count)
        l->seq = c.max_seq;
    return 0;
}

/*
 * The file at path: a whole Avro file of complete blocks only (a block whose framing is whole but
 * whose data were damaged in place is kept: its bytes are not ours to drop). Returns the sequence
 * number the numbering must pass: the highest of the last block that decodes, -1 when none.
 */
static int64_t check_file(const char *path)
{
    int fd = open(path, O_RDONLY);
    FZ_CHECK(fd >= 0);
    struct stat st;
    FZ_CHECK(fstat(fd, &st) == 0 && st.st_size > 0);
    size_t len = (size_t)st.st_size;
    uint8_t *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    FZ_CHECK(p != MAP_FAILED);
    close(fd);
    struct rx_avro_scan s;
    FZ_CHECK(rx_avro_scan(p, len, &s) == 0);
    FZ_CHECK(s.good_len == len); /* no incomplete tail, no stray bytes */
    struct last l = {p, s.codec, -1};
    FZ_CHECK(rx_avro_scan_blocks(p, &s, last_of_block, &l) == 0);
    munmap(p, len);
    return l.seq;
}

static char base[256];

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    return ftw->level > 0 ? remove(p) : 0;
}

static void write_file(const char *path, const uint8_t *p, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    FZ_CHECK(fd >= 0);
    FZ_CHECK(write(fd, p, len) == (ssize_t)len);
    close(fd);
}

static void on_disk(int closed, const uint8_t *p, size_t len)
{
    char path[512], final[600];
    if (!base[0]) {
        const char *t = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
        snprintf(base, sizeof base, "%s/hc_fuzz_capture_%d", t ? t : "/tmp", (int)getpid());
        mkdir(base, 0755);
    }
    nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    if (!closed) {
        int64_t final_len = 0;
        snprintf(path, sizeof path, "%s/00.avro.tmp", base);
        snprintf(final, sizeof final, "%s/00.avro", base);
        write_file(path, p, len);
        int rc = rx_recover_tmp(path, 1, &final_len);
        FZ_CHECK(rc == 0 || rc == HC_E_VERSION);
        if (rc == 0 && final_len >= 0) {
            struct stat st;
            FZ_CHECK(stat(final, &st) == 0 && st.st_size == final_len);
            check_file(final);
        }
        return;
    }
    /* a partition: YYYY/MM/DD/hh/mm/ss.avro */
    snprintf(path, sizeof path, "%s/2026", base);
    mkdir(path, 0755);
    strcat(path, "/11");
    mkdir(path, 0755);
    strcat(path, "/22");
    mkdir(path, 0755);
    strcat(path, "/03");
    mkdir(path, 0755);
    strcat(path, "/00");
    mkdir(path, 0755);
    snprintf(final, sizeof final, "%s/00.avro", path);
    write_file(final, p, len);
    struct rx_recovery out;
    int rc = rx_recover_partition(base, 1, NULL, NULL, &out);
    FZ_CHECK(rc == 0);
    struct stat st;
    if (stat(final, &st) == 0 && st.st_size > 0) {
        int fd = open(final, O_RDONLY);
        FZ_CHECK(fd >= 0);
        uint8_t *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
        FZ_CHECK(m != MAP_FAILED);
        struct rx_avro_scan s;
        int src = rx_avro_scan(m, (size_t)st.st_size, &s);
        munmap(m, (size_t)st.st_size);
        /* left alone: another codec of the specification (HC_E_VERSION) */
        if (src == 0) {
            int64_t last = check_file(final);
            FZ_CHECK(out.next_seq > last);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    on_disk(data[0] & 1, data + 1, size - 1);
    return 0;
}
