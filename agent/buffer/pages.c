/* pages.c - the map's resident pages: where the map is, and dropping its pages. */
#include "agent/buffer/queue_int.h"
#include "common/error.h"
#include "common/hctime.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#define TRIM_TOUCHED (1 * AG_MIB) /* record bytes read or written between drops of the pages */

/* ---- resident pages ---------------------------------------------------------------------- */

/*
 * The map is a read-only shared mapping of data.mdb. Every page a txn reads (the B-tree path to
 * the tail, the free list, records an iterator or an ack walks) stays resident and counts in the
 * process's RSS, and copy-on-write moves the tail to new pages on every commit, so a long run of
 * enqueues would touch page after page. Dropping the map's resident pages is safe at any time,
 * from any thread (the next access faults the page back in from the page cache), so it is done
 * every few commits and after long iterations.
 * LMDB 0.9 reports no map address (me_mapaddr is only set with MDB_FIXEDMAP): the map is the
 * mapping of /proc/self/maps that holds a pointer LMDB returned into it.
 */
static void map_note(struct ag_queue *q, const void *inside)
{
    uintptr_t p = (uintptr_t)inside, lo, hi;
    char line[PATH_MAX + 128]; /* a longer line is not matched: no trimming, nothing worse */
    FILE *f = fopen("/proc/self/maps", "re");

    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR, &lo, &hi) != 2 || p < lo || p >= hi)
            continue;
        /* Only ever the file's shared mapping: DONTNEED would zero private memory. */
        if (strstr(line, " r--s ") && strstr(line, "/data.mdb\n")) {
            pthread_mutex_lock(&q->map_lock);
            q->map_start = (void *)lo;
            q->map_len = hi - lo;
            pthread_mutex_unlock(&q->map_lock);
        }
        break;
    }
    fclose(f);
}

/* Learn where the map is from a value read in txn (nothing is dirty yet, so it is in the map). */
void ag_queue__map_probe(struct ag_queue *q, MDB_txn *txn)
{
    MDB_val k = {sizeof AG_META_STATE - 1, (void *)AG_META_STATE}, v;
    if (!mdb_get(txn, q->db_meta, &k, &v))
        map_note(q, v.mv_data);
}

void ag_queue__touched(struct ag_queue *q, uint64_t bytes)
{
    if (atomic_fetch_add(&q->touched, bytes) + bytes < TRIM_TOUCHED)
        return;
    atomic_store(&q->touched, 0);
    ag_queue__trim(q);
}

void ag_queue__trim(struct ag_queue *q)
{
    pthread_mutex_lock(&q->map_lock);
    if (q->map_start)
        madvise(q->map_start, q->map_len, MADV_DONTNEED);
    pthread_mutex_unlock(&q->map_lock);
}
