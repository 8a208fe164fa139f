/*
 * avro_writer.h - one capture file being written: an Avro object container file (libavro) under
 * its temporary name, made durable on demand (group commit), renamed to its final name on close.
 *
 * Records arrive already encoded (rx_record_encode); libavro frames them in blocks, compresses
 * each block with the file's codec and writes the header and the sync markers. rx_avro_file_sync
 * ends the current block and makes everything appended so far durable (fflush + fdatasync), so
 * the file on disk is always a valid container up to its last complete block.
 *
 * Not thread-safe: one partition's writer thread owns a file.
 */
#ifndef RX_AVRO_WRITER_H
#define RX_AVRO_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "receiver/conf.h"

struct rx_avro_file;

/*
 * Create the file tmp_path (and any missing parent folders, made durable), with the Capture
 * schema and codec; block_size must hold the largest record. The header is written but not yet
 * synced. Returns 0 and sets *out, or -errno / HC_E_INVAL (libavro refused) with *why (when not
 * NULL) a static sentence.
 */
int rx_avro_file_create(const char *tmp_path, enum rx_codec codec, size_t block_size,
                        struct rx_avro_file **out, const char **why);

/* Append one encoded record of len bytes. Returns 0, or -errno / HC_E_TOOBIG (> block size). */
int rx_avro_file_append(struct rx_avro_file *f, const void *rec, size_t len);

/*
 * Write the pending block and make the file durable. *fsync_ns (when not NULL) gets how long
 * fdatasync took. Returns 0 or -errno; after a failure only rx_avro_file_abandon is allowed.
 */
int rx_avro_file_sync(struct rx_avro_file *f, int64_t *fsync_ns);

/* Bytes of the file as of the last successful sync (create counts the header as synced). */
uint64_t rx_avro_file_synced_size(const struct rx_avro_file *f);
/* Encoded record bytes appended since the last sync (before compression). */
uint64_t rx_avro_file_pending(const struct rx_avro_file *f);
/* Records made durable so far. */
int64_t rx_avro_file_records(const struct rx_avro_file *f);
/* The temporary path the file was created with. Valid while f is. */
const char *rx_avro_file_path(const struct rx_avro_file *f);

/*
 * Sync, close, and rename the file to final_path, then make the rename durable (fsync of the
 * folder). f is freed whatever happens. Returns 0 or -errno (the temporary file then stays for
 * recovery at the next start).
 */
int rx_avro_file_close(struct rx_avro_file *f, const char *final_path);

/*
 * After a failed append or sync: cut the file back to its last synced size, close it, and rename
 * it to final_path when it holds synced records (else remove it). f is freed. Returns 0 or
 * -errno.
 */
int rx_avro_file_abandon(struct rx_avro_file *f, const char *final_path);

/*
 * Create folder path and its missing parents (mode 0755); every folder created is made durable
 * in its parent. Returns 0 or -errno.
 */
int rx_mkdirs(const char *path);

/* fsync the folder that holds path. Returns 0 or -errno. */
int rx_fsync_parent(const char *path);

#endif
