/*
 * db.h - the lake's PostgreSQL connection and its versioned schema (receiver/sql/NNN_*.sql,
 * compiled into the binary).
 *
 * Every function that fails writes one sentence into err (cap bytes, at least 1), including
 * PostgreSQL's own message; the caller logs it.
 */
#ifndef RX_LAKE_DB_H
#define RX_LAKE_DB_H

#include <libpq-fe.h>
#include <stddef.h>

/* One schema file: its name ("001_bronze.sql": the version is the leading number) and text. */
struct rx_lake_sql_file {
    const char *name;
    const char *sql;
};

/* The schema files in version order, ended by {NULL, NULL}. Static. */
extern const struct rx_lake_sql_file rx_lake_sql_files[];

/*
 * Connect with a libpq connection string or URI (NULL or "": libpq's PG* environment variables
 * alone). Server notices are dropped. Returns the connection (free it with PQfinish) or NULL.
 */
PGconn *rx_lake_connect(const char *conninfo, char *err, size_t cap);

/*
 * Apply every schema file not yet in lake.schema_version, each in one transaction with its
 * version row, serialised against other receivers by an advisory lock. *applied (when not NULL)
 * gets how many were applied. Returns 0 or HC_E_RETRY (the connection broke: reconnect) or
 * HC_E_INVAL (a statement failed).
 */
int rx_lake_migrate(PGconn *c, int *applied, char *err, size_t cap);

/*
 * Run one parameterised statement (params: NUL-terminated texts, NULL for SQL NULL). Returns the
 * result (PGRES_COMMAND_OK or PGRES_TUPLES_OK; PQclear it) or NULL with err set.
 */
PGresult *rx_lake_exec(PGconn *c, const char *sql, int n, const char *const *params, char *err,
                       size_t cap);

/* rx_lake_exec without a result. Returns 0, HC_E_RETRY (connection lost) or HC_E_INVAL. */
int rx_lake_run(PGconn *c, const char *sql, int n, const char *const *params, char *err,
                size_t cap);

/* The header of COPY's binary format (signature, flags, no extension). */
extern const char rx_lake_copy_bin_header[19];

/*
 * Run sql, a "COPY ... FROM STDIN" statement, sending data[0..len) (whole rows in the statement's
 * format; binary: tuples, the stream's header and trailer sent here) as its input. Returns 0,
 * HC_E_RETRY (connection lost) or HC_E_INVAL.
 */
int rx_lake_copy_in(PGconn *c, const char *sql, int binary, const char *data, size_t len, char *err,
                    size_t cap);

/* HC_E_RETRY when the connection is gone, else HC_E_INVAL: how to report a failed statement. */
int rx_lake_failure(PGconn *c);

/* Write "what: PostgreSQL's message" into err (the message's last newline dropped). */
void rx_lake_errf(PGconn *c, const char *what, char *err, size_t cap);

#endif
