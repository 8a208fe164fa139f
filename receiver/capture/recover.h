/*
 * recover.h - put a partition's capture folder in order at start, after a crash, a full disk or
 * a clean stop. Nothing acknowledged leaves the folder, and sequence numbers never repeat.
 *
 * The files of one second ss, in its minute folder (layout.h):
 *   ss.avro          closed                 ss.avro.tmp       being written
 *   NAME.corrupt     set aside (see 2.)     ss.avro.rebuild   a repair cut short (removed)
 *
 * 1. A ".avro.tmp", a closed ".avro" whose last 16 bytes are not its sync marker, and a
 *    ".corrupt" file whose header reads (an older receiver set such files aside) are recovered to
 *    their complete blocks: the incomplete tail is cut off (ftruncate + fsync); when complete
 *    blocks lie after the damage (a write lost in the middle), the file is rebuilt from all its
 *    complete blocks instead (written to ".rebuild", synced, renamed over it). A ".tmp" or
 *    ".corrupt" then takes its final name "ss.avro" (when that is free), so the lander reads it.
 *    A ".tmp" without a complete block is removed when skip_empty.
 * 2. Only a file whose header cannot be read is set aside: renamed NAME.corrupt in place, in the
 *    same folder, where the lander (which reads "*.avro" only) skips it and nothing is lost. The
 *    complete blocks found in it (rx_avro_salvage) are written with a new header under its final
 *    name, so their events are landed after all. A ".tmp" that is only the beginning of a
 *    header as this writer makes it (a crash while it was created) holds no event and is removed.
 * 3. Numbering goes on after the highest sequence number and offset on disk: those of the newest
 *    closed file that holds an event (read through and recovered as in 1. if it must be) and of
 *    every file set aside. last_name_s is the newest second any file of the partition occupies,
 *    so names are never reused either.
 *
 * Other closed files are checked at their end only, not read through: a file is closed (renamed)
 * only after the fdatasync of all of it, so damage inside it can only come from outside. A file
 * with another codec of the Avro specification (snappy, bzip2, xz, zstandard: a file copied from
 * elsewhere) is left as it is; a codec name that is none of these is a damaged header.
 */
#ifndef RX_RECOVER_H
#define RX_RECOVER_H

#include <stddef.h>
#include <stdint.h>

struct rx_recovery {
    int64_t next_seq;    /* 0 for an empty partition */
    int64_t next_offset; /* 0 for an empty partition */
    int64_t last_name_s; /* the newest file name's second, -1 when none */
    int recovered;       /* files cut back or rebuilt to their complete blocks, or renamed back */
    int removed;         /* temporary files without a complete block, removed */
    int64_t cut_bytes;   /* bytes of incomplete blocks and stray bytes cut off */
    int set_aside;       /* files with an unreadable header renamed *.corrupt by this run */
    int repaired;        /* of those (or older ones), files whose blocks were written anew */
};

/* Called with a line worth logging (a file recovered, set aside...). */
typedef void (*rx_recover_note_fn)(void *ctx, const char *msg);

/*
 * Recover the partition folder pdir (it may not exist yet: then all is zero). note may be NULL.
 * Returns 0 and fills *out, or -errno (a folder or file that cannot be read, written, renamed or
 * synced) / -ENOMEM.
 */
int rx_recover_partition(const char *pdir, int skip_empty, rx_recover_note_fn note, void *ctx,
                         struct rx_recovery *out);

/*
 * Recover one temporary file "ss.avro.tmp" (step 1, or 2 when its header is unreadable).
 * *final_len gets the length of the file under its final name, -1 when there is none (removed,
 * or set aside with no complete block). Returns 0 or -errno; HC_E_VERSION for another codec of
 * the Avro specification (the file is left alone).
 */
int rx_recover_tmp(const char *path, int skip_empty, int64_t *final_len);

#endif
