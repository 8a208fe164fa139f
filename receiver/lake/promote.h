/*
 * promote.h - bronze to silver and gold.
 *
 * Promotion takes the bronze files after the checkpoint in file_id order, several per transaction
 * (lake.promote_plan: up to lake.config promote_batch_events records), and decides as promoting
 * them one at a time would (watermark, too_late, duplicates, window revisions), so the batching
 * never changes silver or gold.
 *
 * Per batch, the receiver reads the bodies once (COPY out), checks and types them
 * (common/rules.h), keeps the first copy of each event, decides too_late per file, drops the
 * events silver holds already (lake.known_ids, and the batch before in memory) and sums the order
 * lines (receiver/lake/orders.h). It COPYs the rest into temp tables, and lake.promote_staged
 * (receiver/sql/003_gold.sql) updates gold from them; every gold table is kept incrementally,
 * from the batch's rows only. The next batch is read and checked on a second connection
 * meanwhile.
 *
 * Silver: a batch of promote_split_events records or more (20000) has its silver rows COPYed by a
 * writer thread on a third connection, in a transaction that commits before the batch's gold,
 * watermark and checkpoint commit on the first. A crash between the two commits leaves silver
 * rows of files after the checkpoint (lake.silver_written tells): the next promotion counts them
 * in gold as its own, inserting with ON CONFLICT DO NOTHING, so each event is once in silver and
 * once in gold. Smaller batches, and rebuild (whose TRUNCATE holds silver locked), insert silver
 * in the gold transaction itself. Either way a crash at any moment leaves gold as of the last
 * promoted batch.
 *
 * Memory: about 400 bytes an event of the batch and of the one read ahead (rows, sets of ids);
 * 200 MB at the default 250,000. A call with nothing new costs a few round trips (under a
 * millisecond of server time). In a test build (HUBCAP_TEST_HOOKS), HC_FAULT=promote_after_silver
 * kills the process between the two commits.
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
 * Promote every landed file after the checkpoint, then refresh gold. While it runs it may open
 * two more connections with c's parameters (reading ahead, writing silver), closed before it
 * returns; without them it does the same work on c alone. Returns 0, HC_E_RETRY (the connection
 * broke: what committed stays) or HC_E_INVAL, with err set.
 */
int rx_lake_promote(PGconn *c, struct rx_promote_stats *st, char *err, size_t cap);

/*
 * Empty silver and gold and promote everything in bronze again, in one transaction (readers see
 * the old gold until it commits). Returns as rx_lake_promote.
 */
int rx_lake_rebuild(PGconn *c, struct rx_promote_stats *st, char *err, size_t cap);

#endif
