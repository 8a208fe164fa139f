/*
 * promote.h - bronze to silver and gold.
 *
 * Promotion takes the bronze files after the checkpoint in file_id order, several per transaction
 * (lake.promote_plan: up to lake.config promote_batch_events records), and decides as promoting
 * them one at a time would (watermark, too_late, duplicates, window revisions), so the batching
 * never changes silver or gold. The receiver reads the batch's bodies once (COPY out), checks and
 * types them (common/rules.h), keeps the first copy of each event and decides too_late per file,
 * and COPYs the typed rows into temp tables; lake.promote_staged (receiver/sql/003_gold.sql)
 * inserts what silver does not hold yet and updates gold from those rows. Memory: the batch's
 * typed rows as COPY text (about 200 bytes an event). Each batch's silver rows, gold changes (every
 * gold table is kept incrementally, from the batch's rows only), watermark and checkpoint commit
 * together: a crash at any moment leaves silver and gold as of the last promoted batch. A call with
 * nothing new costs a few round trips (under a millisecond of server time).
 */
#ifndef RX_LAKE_PROMOTE_H
#define RX_LAKE_PROMOTE_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

struct rx_promote_stats {
    int64_t files;  /* bronze files promoted by this call */
    int64_t events; /* their records */
};

/*
 * Promote every landed file after the checkpoint, then refresh gold. Returns 0, HC_E_RETRY (the
 * connection broke: what committed stays) or HC_E_INVAL, with err set.
 */
int rx_lake_promote(PGconn *c, struct rx_promote_stats *st, char *err, size_t cap);

/*
 * Empty silver and gold and promote everything in bronze again, in one transaction (readers see
 * the old gold until it commits). Returns as rx_lake_promote.
 */
int rx_lake_rebuild(PGconn *c, struct rx_promote_stats *st, char *err, size_t cap);

#endif
