/*
 * land.h - land closed capture files into bronze, exactly once per file.
 *
 * A closed capture file is a "*.avro" under the capture folder (a file being written is
 * "*.avro.tmp" and is never read). Each lands in one transaction: its manifest row in
 * bronze.capture_file (path relative to the folder, size, SHA-256, partition, first and last
 * sequence number, events) and its records, sent with COPY (binary format) into bronze.event.
 * The manifest is unique on (path, checksum) and checked first under an advisory lock, so a
 * file that landed (even just before a crash) is skipped, and one whose transaction did not
 * commit lands again.
 */
#ifndef RX_LAKE_LAND_H
#define RX_LAKE_LAND_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct rx_land_stats {
    int64_t files_seen;    /* closed capture files found */
    int64_t files_landed;  /* landed by this call */
    int64_t files_skipped; /* in the manifest already */
    int64_t files_failed;  /* unreadable or refused: reported, left for the next call */
    int64_t events;        /* records landed */
};

/*
 * Land one file: dir/rel. *landed gets 1 when it landed, 0 when it was in the manifest.
 * Returns 0; HC_E_PARSE (the file is not a readable Capture file), -errno (it cannot be read),
 * HC_E_RETRY (the connection broke) or HC_E_INVAL (PostgreSQL refused), with err set. *events
 * gets the records landed.
 */
int rx_land_file(PGconn *c, const char *dir, const char *rel, int *landed, int64_t *events,
                 char *err, size_t cap);

/*
 * Land every closed capture file under dir not yet in the manifest, in path order (partition,
 * then time). A file that fails is reported on log (when not NULL) and counted; the others go
 * on. progress (when not NULL) gets one line per landed file. Returns 0 when every file is in
 * bronze; HC_E_PARSE when some could not be landed; HC_E_RETRY when the connection broke; -errno
 * when dir cannot be read (err set).
 */
int rx_land_dir(PGconn *c, const char *dir, FILE *progress, FILE *log, struct rx_land_stats *st,
                char *err, size_t cap);

#endif
