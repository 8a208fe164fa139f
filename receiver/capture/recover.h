/*
 * recover.h - put a partition's capture folder in order at start, after a crash or a clean stop.
 *
 * 1. Every "*.avro.tmp" (a file that was being written) is cut back to its last complete block
 *    (what was acknowledged is in complete, synced blocks), made durable and renamed to its
 *    final name; one without a complete block is removed (when skip_empty) or kept empty.
 * 2. The newest capture file (names are times, and the writer keeps them increasing) gives the
 *    last sequence number and offset, so numbering goes on where it stopped.
 * A file that cannot be read is renamed "*.avro.corrupt" and reported; the one before it is used.
 */
#ifndef RX_RECOVER_H
#define RX_RECOVER_H

#include <stddef.h>
#include <stdint.h>

struct rx_recovery {
    int64_t next_seq;    /* 0 for an empty partition */
    int64_t next_offset; /* 0 for an empty partition */
    int64_t last_name_s; /* the newest file name's second, -1 when none */
    int recovered;       /* temporary files cut and renamed */
    int removed;         /* temporary files without a complete block, removed */
    int64_t cut_bytes;   /* bytes of incomplete blocks cut off */
    int quarantined;     /* unreadable files renamed *.corrupt */
};

/* Called with a line worth logging (a file recovered, quarantined...). */
typedef void (*rx_recover_note_fn)(void *ctx, const char *msg);

/*
 * Recover the partition folder pdir (it may not exist yet: then all is zero). note may be NULL.
 * Returns 0 and fills *out, or -errno (a folder or file that cannot be read, renamed or synced).
 */
int rx_recover_partition(const char *pdir, int skip_empty, rx_recover_note_fn note, void *ctx,
                         struct rx_recovery *out);

/*
 * Recover one temporary file (step 1 alone). *final_len gets the length kept, -1 when the file
 * was removed. Returns 0 or -errno; HC_E_VERSION for an unknown codec (the file is left alone).
 */
int rx_recover_tmp(const char *path, int skip_empty, int64_t *final_len);

#endif
