#include "receiver/capture/avro_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "common/error.h"
#include "common/hctime.h"
#include "receiver/capture/avro_enc.h"
#include "receiver/capture/record.h"

#define SYNC_LEN 16

/*
 * Records are framed in blocks of about this many bytes (before compression), deflated at this
 * zlib level. Measured on the records of agent-like events (rxtool.py's, 19 MB, one core):
 *
 *   block  level  MB/s  ratio          block  level  MB/s  ratio
 *   16 KiB   9     56   5.13 (libavro)  64 KiB   1    135   4.90
 *   16 KiB   6     68   5.04            64 KiB   3    116   5.18
 *   16 KiB   1    132   4.52            64 KiB   6     59   5.71
 *
 * At 100k events/s the receiver deflates about 48 MB/s in its partition threads, so libavro's
 * level 9 took most of a core; level 3 at 64 KiB makes files as small for half the CPU.
 */
#define RX_BLOCK_TARGET  (64 * 1024)
#define RX_DEFLATE_LEVEL 3

/* Framed blocks held in memory before they are written (not synced) within one commit. */
#define RX_WRITE_CHUNK (1024 * 1024)

/* A buffer grown past this (a record of many megabytes) is freed after the sync. */
#define RX_KEEP_MAX (4 * RX_BLOCK_TARGET)

struct rx_avro_file {
    int fd;
    enum rx_codec codec;
    int zready;           /* z is initialised */
    z_stream z;           /* deflate, reset for every block */
    struct hc_buf block;  /* encoded records of the block being built */
    int64_t block_count;  /* records in it */
    struct hc_buf zout;   /* a block's compressed bytes */
    struct hc_buf out;    /* framed blocks not yet handed to pwrite */
    uint64_t written;     /* file length handed to pwrite */
    uint64_t synced_size; /* file length made durable */
    int synced_once;      /* a sync succeeded (the header is durable) */
    uint64_t pending;     /* encoded record bytes since the last sync */
    int64_t records;      /* durable */
    int64_t pending_records;
    size_t block_size;
    int err; /* a failed write or sync: 0 until then */
    uint8_t sync[SYNC_LEN];
    char path[];
};

/* ---- Folders -------------------------------------------------------------------------------- */

int rx_fsync_parent(const char *path)
{
    char dir[RX_PATH_MAX];
    const char *slash = strrchr(path, '/');
    int fd, rc = 0;
    if (!slash)
        strcpy(dir, ".");
    else if (slash == path)
        strcpy(dir, "/");
    else if ((size_t)(slash - path) < sizeof dir) {
        memcpy(dir, path, (size_t)(slash - path));
        dir[slash - path] = '\0';
    } else {
        return -ENAMETOOLONG;
    }
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    if (fsync(fd))
        rc = -errno;
    if (close(fd) && !rc)
        rc = -errno;
    return rc;
}

int rx_mkdirs(const char *path)
{
    char tmp[RX_PATH_MAX];
    size_t n = strlen(path);
    int rc;
    if (n >= sizeof tmp)
        return -ENAMETOOLONG;
    memcpy(tmp, path, n + 1);
    for (char *p = tmp + 1;; p++) {
        if (*p != '/' && *p)
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(tmp, 0755) == 0) {
            if ((rc = rx_fsync_parent(tmp)))
                return rc;
        } else if (errno != EEXIST) {
            return -errno;
        }
        if (!saved)
            return 0;
        *p = saved;
    }
}

/* mkdir -p of the folder holding path. */
static int mkdirs_parent(const char *path)
{
    char dir[RX_PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return 0;
    if ((size_t)(slash - path) >= sizeof dir)
        return -ENAMETOOLONG;
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = '\0';
    return rx_mkdirs(dir);
}

/* ---- Bytes ---------------------------------------------------------------------------------- */

int rx_pwrite_all(int fd, const void *p, size_t n, uint64_t off)
{
    const char *q = p;
    while (n) {
        ssize_t w = pwrite(fd, q, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        if (w == 0)
            return -EIO;
        q += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

int rx_avro_header(struct hc_buf *out, enum rx_codec codec, const uint8_t sync[16])
{
    const char *schema = rx_capture_schema_json(), *cname = rx_codec_name(codec);
    if (hc_buf_add(out, "Obj\x01", 4) || rx_avro_put_long(out, 2) ||
        rx_avro_put_bytes(out, "avro.schema", 11) ||
        rx_avro_put_bytes(out, schema, strlen(schema)) ||
        rx_avro_put_bytes(out, "avro.codec", 10) || rx_avro_put_bytes(out, cname, strlen(cname)) ||
        rx_avro_put_long(out, 0) || hc_buf_add(out, sync, SYNC_LEN))
        return -ENOMEM;
    return 0;
}

/* Hand out's bytes to the file; on failure the file is marked failed. */
static int write_out(struct rx_avro_file *f)
{
    int rc;
    if (!f->out.len)
        return 0;
    if ((rc = rx_pwrite_all(f->fd, f->out.p, f->out.len, f->written)))
        return f->err = rc;
    f->written += f->out.len;
    hc_buf_reset(&f->out);
    return 0;
}

/* Deflate f->block into f->zout (raw RFC 1951). */
static int deflate_block(struct rx_avro_file *f)
{
    uLong bound;
    int zr;
    if (!f->zready) {
        if (deflateInit2(&f->z, RX_DEFLATE_LEVEL, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            return -ENOMEM;
        f->zready = 1;
    } else if (deflateReset(&f->z) != Z_OK) {
        return -EINVAL;
    }
    bound = deflateBound(&f->z, (uLong)f->block.len);
    hc_buf_reset(&f->zout);
    if (hc_buf_reserve(&f->zout, (size_t)bound))
        return -ENOMEM;
    f->z.next_in = (Bytef *)f->block.p;
    f->z.avail_in = (uInt)f->block.len;
    f->z.next_out = (Bytef *)f->zout.p;
    f->z.avail_out = (uInt)bound;
    zr = deflate(&f->z, Z_FINISH);
    if (zr != Z_STREAM_END)
        return -EINVAL;
    f->zout.len = (size_t)(bound - f->z.avail_out);
    return 0;
}

/* Close the block being built: frame it (count, size, data, sync marker) into f->out. */
static int end_block(struct rx_avro_file *f)
{
    const struct hc_buf *data = &f->block;
    int rc;
    if (!f->block_count)
        return 0;
    if (f->codec == RX_CODEC_DEFLATE) {
        if ((rc = deflate_block(f)))
            return rc;
        data = &f->zout;
    }
    if (hc_buf_reserve(&f->out, 2 * RX_AVRO_LONG_MAX + data->len + SYNC_LEN))
        return -ENOMEM;
    rx_avro_put_long(&f->out, f->block_count);
    rx_avro_put_long(&f->out, (int64_t)data->len);
    hc_buf_add(&f->out, data->p, data->len);
    hc_buf_add(&f->out, f->sync, SYNC_LEN);
    hc_buf_reset(&f->block);
    f->block_count = 0;
    return 0;
}

/* ---- The file ------------------------------------------------------------------------------- */

/* After a commit of big records, give back what the next blocks will not need. */
static void trim(struct rx_avro_file *f)
{
    if (f->block.cap > RX_KEEP_MAX)
        hc_buf_free(&f->block);
    if (f->zout.cap > RX_KEEP_MAX)
        hc_buf_free(&f->zout);
    if (f->out.cap > RX_KEEP_MAX + RX_WRITE_CHUNK)
        hc_buf_free(&f->out);
}

static void file_free(struct rx_avro_file *f)
{
    if (f->zready)
        deflateEnd(&f->z);
    hc_buf_free(&f->block);
    hc_buf_free(&f->zout);
    hc_buf_free(&f->out);
    free(f);
}

/*
 * A sync marker: random bytes, without waiting for the kernel's pool at early boot (it only has
 * to be unlikely inside the data, not secret): then the clock, the process and a counter.
 */
static void random_sync(uint8_t sync[SYNC_LEN])
{
    static atomic_uint_fast64_t counter;
    uint64_t v[2];
    size_t got = 0;
    while (got < SYNC_LEN) {
        ssize_t n = getrandom(sync + got, SYNC_LEN - got, GRND_NONBLOCK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got == SYNC_LEN)
        return;
    v[0] = (uint64_t)hc_mono_ns() * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
    v[1] = (uint64_t)hc_now_ms() * 0xbf58476d1ce4e5b9ULL ^ atomic_fetch_add(&counter, 1);
    memcpy(sync, v, SYNC_LEN);
}

int rx_avro_file_create(const char *tmp_path, enum rx_codec codec, size_t block_size,
                        struct rx_avro_file **out, const char **why)
{
    struct rx_avro_file *f = calloc(1, sizeof *f + strlen(tmp_path) + 1);
    const char *dummy;
    int rc;
    if (!why)
        why = &dummy;
    if (!f) {
        *why = "out of memory";
        return -ENOMEM;
    }
    strcpy(f->path, tmp_path);
    f->fd = -1;
    f->codec = codec;
    f->block_size = block_size;
    random_sync(f->sync);
    if ((rc = rx_avro_header(&f->out, codec, f->sync))) {
        *why = "out of memory";
        goto out_free;
    }
    if ((rc = mkdirs_parent(tmp_path))) {
        *why = "cannot create the capture folder";
        goto out_free;
    }
    f->fd = open(tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (f->fd < 0) {
        rc = -errno;
        *why = "cannot create the capture file";
        goto out_free;
    }
    if ((rc = write_out(f)) || (rc = rx_fsync_parent(tmp_path))) {
        *why = "cannot write the capture file header";
        goto out_unlink;
    }
    f->synced_size = f->written;
    *out = f;
    return 0;
out_unlink:
    close(f->fd);
    unlink(tmp_path);
out_free:
    file_free(f);
    return rc;
}

int rx_avro_file_append(struct rx_avro_file *f, const void *rec, size_t len)
{
    int rc;
    if (f->err)
        return f->err;
    if (len + SYNC_LEN > f->block_size)
        return HC_E_TOOBIG;
    if (hc_buf_add(&f->block, rec, len))
        return -ENOMEM;
    f->block_count++;
    f->pending += len;
    f->pending_records++;
    if (f->block.len >= RX_BLOCK_TARGET && (rc = end_block(f)))
        return f->err = rc;
    return f->out.len >= RX_WRITE_CHUNK ? write_out(f) : 0;
}

int rx_avro_file_sync(struct rx_avro_file *f, int64_t *fsync_ns)
{
    int64_t t0;
    int rc;
    if (f->err)
        return f->err;
    if ((rc = end_block(f)) || (rc = write_out(f)))
        return f->err = rc;
    t0 = hc_mono_ns();
    if (fdatasync(f->fd))
        return f->err = -errno;
    if (fsync_ns)
        *fsync_ns = hc_mono_ns() - t0;
    f->synced_size = f->written;
    f->synced_once = 1;
    f->records += f->pending_records;
    f->pending_records = 0;
    f->pending = 0;
    trim(f);
    return 0;
}

int rx_avro_file_rewind(struct rx_avro_file *f)
{
    hc_buf_reset(&f->block);
    hc_buf_reset(&f->out);
    f->block_count = 0;
    f->pending = 0;
    f->pending_records = 0;
    if (ftruncate(f->fd, (off_t)f->synced_size) || fdatasync(f->fd))
        return f->err = -errno;
    f->written = f->synced_size;
    f->err = 0;
    return 0;
}

uint64_t rx_avro_file_synced_size(const struct rx_avro_file *f)
{
    return f->synced_size;
}

uint64_t rx_avro_file_pending(const struct rx_avro_file *f)
{
    return f->pending;
}

int64_t rx_avro_file_records(const struct rx_avro_file *f)
{
    return f->records;
}

const char *rx_avro_file_path(const struct rx_avro_file *f)
{
    return f->path;
}

int rx_avro_file_close(struct rx_avro_file *f, const char *final_path)
{
    int rc = 0;
    if (f->err || f->pending_records || !f->synced_once)
        rc = rx_avro_file_sync(f, NULL);
    if (rc)
        return rx_avro_file_abandon(f, final_path), rc;
    if (close(f->fd))
        rc = -errno;
    if (!rc && rename(f->path, final_path))
        rc = -errno;
    if (!rc)
        rc = rx_fsync_parent(final_path);
    file_free(f);
    return rc;
}

int rx_avro_file_abandon(struct rx_avro_file *f, const char *final_path)
{
    int rc = rx_avro_file_rewind(f);
    if (close(f->fd) && !rc)
        rc = -errno;
    if (!rc && f->records > 0 && rename(f->path, final_path))
        rc = -errno;
    else if (!rc && f->records == 0 && unlink(f->path))
        rc = -errno;
    if (!rc)
        rc = rx_fsync_parent(f->path);
    file_free(f);
    return rc;
}
