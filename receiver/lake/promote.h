/*
 * promote.h - bronze to silver and gold, by the functions of receiver/sql/003_gold.sql.
 *
 * Promotion goes one bronze file at a time in file_id order; each file's silver rows, gold
 * changes, watermark and checkpoint commit together (lake.promote_next), so a crash at any
 * moment leaves silver and gold as of the last promoted file. The whole-history gold tables
 * (top products, customers, cancellations, car turnover) are recomputed after (lake.refresh_gold).
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
