#include "receiver/capture/avro_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* libavro's headers are not -Wpedantic clean */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#include <avro.h>
#pragma GCC diagnostic pop

#include "common/error.h"
#include "common/hctime.h"
#include "receiver/capture/record.h"

/*
 * Records are framed in blocks of about this many bytes (before compression), whatever the
 * datum buffer can hold: libavro's deflate runs at level 9 (Z_BEST_COMPRESSION, fixed), whose
 * cost grows with the block; at 16 KiB (libavro's own default block size) it compresses about
 * 2.5 times faster than at 64 KiB and more, for a 10 % bigger file.
 */
#define RX_BLOCK_TARGET (16 * 1024)

struct rx_avro_file {
    FILE *fp;
    size_t block_bytes; /* appended since the current block began */
    avro_schema_t schema;
    avro_file_writer_t w;
    uint64_t synced_size;
    uint64_t pending;
    int64_t records, pending_records;
    size_t block_size;
    char path[];
};

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
    close(fd);
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

static void file_free(struct rx_avro_file *f)
{
    if (f->w)
        avro_file_writer_close(f->w);
    if (f->schema)
        avro_schema_decref(f->schema);
    if (f->fp)
        fclose(f->fp);
    free(f);
}

static int file_open_fp(struct rx_avro_file *f)
{
    int fd = open(f->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    f->fp = fdopen(fd, "wb");
    if (!f->fp) {
        int rc = -errno;
        close(fd);
        unlink(f->path);
        return rc;
    }
    /* bigger stdio buffer: fewer write(2) calls per block */
    setvbuf(f->fp, NULL, _IOFBF, 256 * 1024);
    return 0;
}

int rx_avro_file_create(const char *tmp_path, enum rx_codec codec, size_t block_size,
                        struct rx_avro_file **out, const char **why)
{
    const char *schema = rx_capture_schema_json();
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
    f->block_size = block_size;
    if ((rc = mkdirs_parent(tmp_path))) {
        *why = "cannot create the capture folder";
        goto out_free;
    }
    if ((rc = file_open_fp(f))) {
        *why = "cannot create the capture file";
        goto out_free;
    }
    if (avro_schema_from_json_length(schema, strlen(schema), &f->schema)) {
        *why = "libavro refused the Capture schema";
        rc = HC_E_INVAL;
        goto out_unlink;
    }
    if (avro_file_writer_create_with_codec_fp(f->fp, tmp_path, 0, f->schema, &f->w,
                                              rx_codec_name(codec), block_size)) {
        *why = "libavro could not start the file (codec not built in?)";
        rc = HC_E_INVAL;
        goto out_unlink;
    }
    if (fflush(f->fp) || (rc = rx_fsync_parent(tmp_path))) {
        rc = rc ? rc : -errno;
        *why = "cannot write the capture file header";
        goto out_unlink;
    }
    f->synced_size = (uint64_t)ftello(f->fp);
    *out = f;
    return 0;
out_unlink:
    unlink(tmp_path);
out_free:
    file_free(f);
    return rc;
}

int rx_avro_file_append(struct rx_avro_file *f, const void *rec, size_t len)
{
    if (len + 16 > f->block_size)
        return HC_E_TOOBIG;
    if (avro_file_writer_append_encoded(f->w, rec, (int64_t)len))
        return errno ? -errno : -EIO;
    f->pending += len;
    f->pending_records++;
    f->block_bytes += len;
    if (f->block_bytes >= RX_BLOCK_TARGET) {
        f->block_bytes = 0;
        if (avro_file_writer_sync(f->w)) /* ends the block (into the stdio buffer) */
            return errno ? -errno : -EIO;
    }
    return 0;
}

int rx_avro_file_sync(struct rx_avro_file *f, int64_t *fsync_ns)
{
    int64_t t0;
    off_t size;
    errno = 0;
    f->block_bytes = 0;
    if (avro_file_writer_flush(f->w) || fflush(f->fp))
        return errno ? -errno : -EIO;
    t0 = hc_mono_ns();
    if (fdatasync(fileno(f->fp)))
        return -errno;
    if (fsync_ns)
        *fsync_ns = hc_mono_ns() - t0;
    size = ftello(f->fp);
    if (size < 0)
        return -errno;
    f->synced_size = (uint64_t)size;
    f->records += f->pending_records;
    f->pending_records = 0;
    f->pending = 0;
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
    if (f->pending_records || f->pending)
        rc = rx_avro_file_sync(f, NULL);
    if (rc)
        return rx_avro_file_abandon(f, final_path), rc;
    avro_file_writer_close(f->w);
    f->w = NULL;
    if (fclose(f->fp))
        rc = -errno;
    f->fp = NULL;
    if (!rc && rename(f->path, final_path))
        rc = -errno;
    if (!rc)
        rc = rx_fsync_parent(final_path);
    file_free(f);
    return rc;
}

int rx_avro_file_abandon(struct rx_avro_file *f, const char *final_path)
{
    int fd = fileno(f->fp), rc = 0;
    /* libavro may still hold part of a block: let it go, then cut the file back */
    avro_file_writer_close(f->w);
    f->w = NULL;
    fflush(f->fp);
    if (ftruncate(fd, (off_t)f->synced_size) || fdatasync(fd))
        rc = -errno;
    fclose(f->fp);
    f->fp = NULL;
    if (!rc) {
        if (f->records > 0 && rename(f->path, final_path))
            rc = -errno;
        else if (f->records == 0 && unlink(f->path))
            rc = -errno;
        if (!rc)
            rc = rx_fsync_parent(f->path);
    }
    file_free(f);
    return rc;
}
