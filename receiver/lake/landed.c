#include "receiver/lake/landed.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

struct rx_lake_landed {
    PGconn *c;
    char *conninfo;
    char *dir;
};

struct rx_lake_landed *rx_lake_landed_new(const char *conninfo, const char *capture_dir)
{
    struct rx_lake_landed *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->conninfo = strdup(conninfo ? conninfo : "");
    l->dir = strdup(capture_dir);
    if (!l->conninfo || !l->dir) {
        rx_lake_landed_free(l);
        return NULL;
    }
    return l;
}

/* The connection, made when there is none or the last one broke. NULL when it cannot be. */
static PGconn *landed_conn(struct rx_lake_landed *l)
{
    if (l->c && PQstatus(l->c) == CONNECTION_OK)
        return l->c;
    if (l->c)
        PQfinish(l->c);
    l->c = PQconnectdb(l->conninfo);
    if (PQstatus(l->c) != CONNECTION_OK) {
        PQfinish(l->c);
        l->c = NULL;
    }
    return l->c;
}

int rx_lake_landed_check(void *ctx, const char *path)
{
    struct rx_lake_landed *l = ctx;
    size_t n = strlen(l->dir);
    const char *rel;
    PGconn *c;
    PGresult *r;
    int rc;
    if (strncmp(path, l->dir, n) || path[n] != '/')
        return 0;
    rel = path + n + 1;
    if (!(c = landed_conn(l)))
        return HC_E_RETRY;
    r = PQexecParams(c, "SELECT 1 FROM bronze.capture_file WHERE path = $1 LIMIT 1", 1, NULL, &rel,
                     NULL, NULL, 0);
    if (PQresultStatus(r) == PGRES_TUPLES_OK)
        rc = PQntuples(r) > 0;
    else
        rc = HC_E_RETRY; /* no schema yet, or the connection broke */
    PQclear(r);
    return rc;
}

void rx_lake_landed_free(struct rx_lake_landed *l)
{
    if (!l)
        return;
    if (l->c)
        PQfinish(l->c);
    free(l->conninfo);
    free(l->dir);
    free(l);
}
