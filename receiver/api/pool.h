/*
 * pool.h - the API's PostgreSQL connections: at most size of them, opened on first use (the
 * server may be down when the receiver starts), shared by any number of threads.
 *
 * Sessions are read-only (default_transaction_read_only), time out statements after
 * RX_API_STATEMENT_MS and connecting after RX_API_CONNECT_S; each statement is one snapshot.
 */
#ifndef RX_API_POOL_H
#define RX_API_POOL_H

#include <libpq-fe.h>
#include <stddef.h>

#define RX_API_STATEMENT_MS 10000
#define RX_API_CONNECT_S    5
#define RX_API_WAIT_MS      10000 /* longest wait for a free connection */

struct rx_api_pool;

/* How a statement ended. */
enum rx_api_qrc {
    RX_API_Q_OK = 0,
    RX_API_Q_DOWN,  /* PostgreSQL unreachable, the schema not there yet, or no free connection */
    RX_API_Q_FAILED /* PostgreSQL refused the statement */
};

/*
 * A pool of up to size (at least 1) connections to conninfo (libpq string or URI; NULL or "":
 * the PG* environment; copied). Returns the pool or NULL (out of memory).
 */
struct rx_api_pool *rx_api_pool_new(const char *conninfo, int size);

/*
 * Run one parameterised statement (params: NUL-terminated texts, NULL for SQL NULL) on a pooled
 * connection. A connection found broken is reopened and the statement tried once more.
 * Returns RX_API_Q_OK with *res (the caller PQclears it), or another code with err set to a
 * sentence (cap bytes, at least 1) that includes PostgreSQL's message. Any thread.
 */
enum rx_api_qrc rx_api_pool_query(struct rx_api_pool *p, const char *sql, int n,
                                  const char *const *params, PGresult **res, char *err, size_t cap);

/* Close every connection and free p; no query may be running. NULL is ok. */
void rx_api_pool_free(struct rx_api_pool *p);

#endif
