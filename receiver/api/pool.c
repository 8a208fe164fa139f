/* pool.c - the API's PostgreSQL connections (see pool.h). */
#include "receiver/api/pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "receiver/lake/db.h"

struct rx_api_slot {
    PGconn *c; /* NULL until first used, or after it broke */
    int busy;
};

struct rx_api_pool {
    char *conninfo;
    pthread_mutex_t mu;
    pthread_cond_t freed;
    int size;
    struct rx_api_slot *slots;
};

struct rx_api_pool *rx_api_pool_new(const char *conninfo, int size)
{
    struct rx_api_pool *p = calloc(1, sizeof *p);

    if (!p)
        return NULL;
    p->size = size < 1 ? 1 : size;
    p->conninfo = strdup(conninfo ? conninfo : "");
    p->slots = calloc((size_t)p->size, sizeof *p->slots);
    if (!p->conninfo || !p->slots)
        goto out_free;
    if (pthread_mutex_init(&p->mu, NULL))
        goto out_free;
    if (pthread_cond_init(&p->freed, NULL))
        goto out_mutex;
    return p;
out_mutex:
    pthread_mutex_destroy(&p->mu);
out_free:
    free(p->slots);
    free(p->conninfo);
    free(p);
    return NULL;
}

/* A free slot, marked busy, waiting up to RX_API_WAIT_MS for one; NULL when none came free. */
static struct rx_api_slot *take(struct rx_api_pool *p)
{
    struct rx_api_slot *s = NULL;
    struct timespec until;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += RX_API_WAIT_MS / 1000;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        /* prefer a slot with an open connection */
        for (int i = 0; i < p->size; i++)
            if (!p->slots[i].busy && (!s || (!s->c && p->slots[i].c)))
                s = &p->slots[i];
        if (s || pthread_cond_timedwait(&p->freed, &p->mu, &until) == ETIMEDOUT)
            break;
    }
    if (s)
        s->busy = 1;
    pthread_mutex_unlock(&p->mu);
    return s;
}

static void give_back(struct rx_api_pool *p, struct rx_api_slot *s)
{
    pthread_mutex_lock(&p->mu);
    s->busy = 0;
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->mu);
}

/* Open s->c. Returns 0 or -1 with err set. */
static int open_slot(struct rx_api_pool *p, struct rx_api_slot *s, char *err, size_t cap)
{
    /* connect_timeout and options first: the conninfo (expanded from dbname) may override */
    static const char *const keys[] = {"connect_timeout", "options", "dbname", NULL};
    char timeout[16], options[128];
    const char *values[] = {timeout, options, p->conninfo, NULL};

    snprintf(timeout, sizeof timeout, "%d", RX_API_CONNECT_S);
    snprintf(options, sizeof options,
             "-c statement_timeout=%d -c default_transaction_read_only=on -c TimeZone=UTC",
             RX_API_STATEMENT_MS);
    s->c = PQconnectdbParams(keys, values, 1);
    if (s->c && PQstatus(s->c) == CONNECTION_OK)
        return 0;
    rx_lake_errf(s->c, "cannot connect to PostgreSQL", err, cap);
    PQfinish(s->c);
    s->c = NULL;
    return -1;
}

/* Is r's SQLSTATE one of states? */
static int state_in(const PGresult *r, const char *const *states, size_t n)
{
    const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

    for (size_t i = 0; st && i < n; i++)
        if (strncmp(st, states[i], strlen(states[i])) == 0)
            return 1;
    return 0;
}

/* The connection is gone, or the server ended the session (shut down, restarted). */
static int broken(PGconn *c, const PGresult *r)
{
    static const char *const states[] = {"08", "57P01", "57P02", "57P03"};

    return PQstatus(c) != CONNECTION_OK || state_in(r, states, sizeof states / sizeof states[0]);
}

/* "Not now" rather than "wrong": no schema yet, a statement timeout. */
static int transient(const PGresult *r)
{
    static const char *const states[] = {"42P01", "3F000", "57014"};

    return state_in(r, states, sizeof states / sizeof states[0]);
}

enum rx_api_qrc rx_api_pool_query(struct rx_api_pool *p, const char *sql, int n,
                                  const char *const *params, PGresult **res, char *err, size_t cap)
{
    struct rx_api_slot *s = take(p);
    enum rx_api_qrc rc = RX_API_Q_DOWN;
    PGresult *r = NULL;
    ExecStatusType st;

    *res = NULL;
    if (!s) {
        snprintf(err, cap, "every PostgreSQL connection of the API is busy: try again");
        return RX_API_Q_DOWN;
    }
    /* twice at most: a connection that broke since its last use is reopened once */
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!s->c && open_slot(p, s, err, cap))
            goto out_give_back;
        r = PQexecParams(s->c, sql, n, NULL, params, NULL, NULL, 0);
        st = PQresultStatus(r);
        if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
            *res = r;
            rc = RX_API_Q_OK;
            goto out_give_back;
        }
        if (!broken(s->c, r)) {
            rc = transient(r) ? RX_API_Q_DOWN : RX_API_Q_FAILED;
            rx_lake_errf(s->c,
                         rc == RX_API_Q_DOWN ? "the lake is not ready in PostgreSQL" : "PostgreSQL",
                         err, cap);
            PQclear(r);
            goto out_give_back;
        }
        rx_lake_errf(s->c, "the connection to PostgreSQL broke", err, cap);
        PQclear(r);
        PQfinish(s->c);
        s->c = NULL;
    }
out_give_back:
    give_back(p, s);
    return rc;
}

void rx_api_pool_free(struct rx_api_pool *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->size; i++)
        PQfinish(p->slots[i].c);
    pthread_cond_destroy(&p->freed);
    pthread_mutex_destroy(&p->mu);
    free(p->slots);
    free(p->conninfo);
    free(p);
}
