/*
 * landed.h - is a capture file in bronze? For retention (receiver/log/log.h: rx_log_safe_fn):
 * with a lake configured, a capture file may be deleted only once its manifest row is in
 * bronze.capture_file.
 *
 * Its own PostgreSQL connection (the lake loop's belongs to the loop's thread), made on first use
 * and made again after it breaks. One thread at a time.
 */
#ifndef RX_LAKE_LANDED_H
#define RX_LAKE_LANDED_H

struct rx_lake_landed;

/* A checker for files under capture_dir, with conninfo (NULL or "": PG* environment). NULL on
 * -ENOMEM. Both strings are copied. No connection is made yet. */
struct rx_lake_landed *rx_lake_landed_new(const char *conninfo, const char *capture_dir);

/*
 * rx_log_safe_fn: 1 when path (under capture_dir) is in the manifest, 0 when not (or when path
 * is not under capture_dir), HC_E_RETRY when PostgreSQL cannot be asked now. ctx is the checker.
 */
int rx_lake_landed_check(void *ctx, const char *path);

/* Close the connection, free. NULL is ok. */
void rx_lake_landed_free(struct rx_lake_landed *l);

#endif
