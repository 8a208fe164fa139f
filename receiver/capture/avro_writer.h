/*
 * avro_writer.h - one capture file being written: an Avro object container file under its
 * temporary name, made durable on demand (group commit), renamed to its final name on close.
 *
 * The file I/O is the writer's own, with no library buffer between the bytes and the fsync:
 * the header (magic "Obj\x01", the metadata map with avro.schema = rx_capture_schema_json() and
 * avro.codec, a random 16-byte sync marker) and every block (record count, byte size, the records
 * - raw RFC 1951 deflate for "deflate", as the Avro specification says - then the sync marker) are
 * built in memory and handed to pwrite(2) whole, looping over short writes and EINTR.
 * rx_avro_file_sync ends the current block, writes what is pending and fdatasyncs; only when
 * every byte was written and the fdatasync returned 0 does it count them as synced. So the
 * synced size is always a valid container ending at a complete block.
 *
 * After a failure (ENOSPC, EIO, a short write) nothing pending counts: rx_avro_file_rewind cuts
 * the file back to its synced size (ftruncate + fdatasync) and the file takes appends again, or
 * rx_avro_file_abandon ends it.
 *
 * Not thread-safe: one partition's writer thread owns a file.
 */
#ifndef RX_AVRO_WRITER_H
#define RX_AVRO_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "receiver/conf.h"

struct rx_avro_file;

/*
 * Create the file tmp_path (O_EXCL; any missing parent folders are created and made durable),
 * write its header and make its name durable (fsync of the folder); block_size must hold the
 * largest record. The header counts as synced: the first rx_avro_file_sync makes it durable with
 * the first block. Returns 0 and sets *out, or -errno with *why (when not NULL) a static sentence;
 * on failure no file is left behind.
 */
int rx_avro_file_create(const char *tmp_path, enum rx_codec codec, size_t block_size,
                        struct rx_avro_file **out, const char **why);

/*
 * Append one encoded record of len bytes (copied). Blocks are closed as they fill, and written
 * out (not synced) once enough of them wait. Returns 0, HC_E_TOOBIG (len + 16 > block_size;
 * nothing changed), -ENOMEM, or -errno of a failed write (then rewind or abandon).
 */
int rx_avro_file_append(struct rx_avro_file *f, const void *rec, size_t len);

/*
 * End the pending block, write everything not yet written and fdatasync. *fsync_ns (when not
 * NULL) gets how long fdatasync took. Returns 0 (all appended records are on disk) or -errno;
 * after a failure the file only takes rx_avro_file_rewind or rx_avro_file_abandon.
 */
int rx_avro_file_sync(struct rx_avro_file *f, int64_t *fsync_ns);

/*
 * Forget every record appended since the last successful sync, cut the file back to its synced
 * size and make that durable. Returns 0 (the file takes appends again) or -errno (the cut could
 * not be made durable: what lies past the synced size is unknown; only abandon remains).
 */
int rx_avro_file_rewind(struct rx_avro_file *f);

/* Bytes of the file as of the last successful sync (the header counts). */
uint64_t rx_avro_file_synced_size(const struct rx_avro_file *f);
/* Encoded record bytes appended since the last sync (before compression). */
uint64_t rx_avro_file_pending(const struct rx_avro_file *f);
/* Records made durable so far. */
int64_t rx_avro_file_records(const struct rx_avro_file *f);
/* The temporary path the file was created with. Valid while f is. */
const char *rx_avro_file_path(const struct rx_avro_file *f);

/*
 * Sync, close, and rename the file to final_path, then make the rename durable (fsync of the
 * folder). f is freed whatever happens. Returns 0 or -errno; on a failed sync the file is
 * abandoned (below), on a failed close or rename it stays under its temporary name for recovery
 * at the next start.
 */
int rx_avro_file_close(struct rx_avro_file *f, const char *final_path);

/*
 * End a file without syncing what is pending: rewind it (above), close it, then rename it to
 * final_path when it holds synced records or remove it when it holds none, and make that durable.
 * f is freed. Returns 0 or -errno; when the cut back fails the file is left under its temporary
 * name, for recovery at the next start.
 */
int rx_avro_file_abandon(struct rx_avro_file *f, const char *final_path);

/*
 * Create folder path and its missing parents (mode 0755); every folder created is made durable
 * in its parent. Returns 0 or -errno.
 */
int rx_mkdirs(const char *path);

/* fsync the folder that holds path. Returns 0 or -errno. */
int rx_fsync_parent(const char *path);

/*
 * Write n bytes of p at offset off of fd, whatever pwrite(2) returns short or EINTR. Returns 0,
 * or -errno (-EIO when pwrite wrote nothing and gave no error); some bytes may be written then.
 */
int rx_pwrite_all(int fd, const void *p, size_t n, uint64_t off);

/*
 * The header of a capture file with the codec and the 16-byte sync marker, appended to out.
 * Returns 0 or -ENOMEM.
 */
int rx_avro_header(struct hc_buf *out, enum rx_codec codec, const uint8_t sync[16]);

#endif
