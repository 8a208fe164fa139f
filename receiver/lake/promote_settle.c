/*
 * promote_settle.c - a batch read from bronze, settled before it is staged: the events silver
 * holds already dropped (lake.known_ids, and the batch before in memory), its order lines summed
 * and the latest rows of parcels and listings kept for gold (promote_int.h).
 */
#include "receiver/lake/promote_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/rules.h"
#include "receiver/lake/db.h"
#include "receiver/lake/orders.h"

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/*
 * Write the header of b->idv, the binary text[] lake.known_ids takes (PostgreSQL's array_send):
 * one dimension, no NULLs, elements of type text, b->nids of them from index 1. The ID_ARRAY_HEAD
 * bytes were reserved when the first id was taken (promote_read.c).
 */
static void id_array_head(struct batch *b)
{
    unsigned char *head = (unsigned char *)b->idv.p;

    put_be32(head, 1);                      /* ndim */
    put_be32(head + 4, 0);                  /* flags: no NULLs */
    put_be32(head + 8, 25);                 /* element type: text's oid */
    put_be32(head + 12, (uint32_t)b->nids); /* dimension 1: length */
    put_be32(head + 16, 1);                 /* dimension 1: lower bound */
}

/* Mark the event of slot s known, and its kind in marked. */
static void mark(struct id_slot *s, int marked[4])
{
    s->known = 1;
    marked[s->kind] = 1;
}

/* Mark b's events that silver holds from files up to b->lo (lake.known_ids on c). */
static int mark_in_silver(PGconn *c, struct batch *b, int marked[4], char *err, size_t cap)
{
    static const Oid types[2] = {20 /* int8 */, 1009 /* text[] */};
    static const int formats[2] = {0, 1};
    char los[24];
    const char *params[2] = {los, b->idv.p};
    int lens[2] = {0, (int)b->idv.len};
    PGresult *r;

    if (b->idv.len > INT32_MAX) {
        snprintf(err, cap, "checking known events: %zu bytes of event_ids is too many for one call",
                 b->idv.len);
        return HC_E_INVAL;
    }
    id_array_head(b);
    snprintf(los, sizeof los, "%" PRId64, b->lo);
    r = PQexecParams(c, "SELECT * FROM lake.known_ids($1, $2)", 2, types, params, lens, formats, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rx_lake_errf(c, "checking known events", err, cap);
        PQclear(r);
        return rx_lake_failure(c);
    }
    for (int i = 0; i < PQntuples(r); i++) {
        const char *id = PQgetvalue(r, i, 0);
        size_t len = (size_t)PQgetlength(r, i, 0);
        struct id_slot *s = rx_promote__id_find(b, id, len, hc_hash_bytes(id, len));
        if (s->hash)
            mark(s, marked);
    }
    PQclear(r);
    return 0;
}

/* Mark b's events that prev (the batch before, NULL: none) took. */
static void mark_in_prev(struct batch *b, struct batch *prev, int marked[4])
{
    for (size_t i = 0; prev && prev->nids && i < b->capids; i++) {
        struct id_slot *s = &b->ids[i];
        if (s->hash && !s->known &&
            rx_promote__id_find(prev, b->idv.p + s->off, s->len, s->hash)->hash)
            mark(s, marked);
    }
}

/* Keep of b's rows of kind k those of events not marked known (kept is scratch). */
static int drop_marked_rows(struct batch *b, int k, struct hc_buf *kept)
{
    const unsigned char *p = (const unsigned char *)b->rows[k].p, *end = p + b->rows[k].len;
    struct hc_buf t;
    size_t n;

    for (; p < end; p += n) {
        struct rx_col f[32];
        int nf, rc;
        if (rx_tuple_split(p, end, f, 32, &nf, &n) || nf < 1 || f[0].len < 0)
            return HC_E_PARSE;
        if (!rx_promote__id_find(b, (const char *)f[0].p, (size_t)f[0].len,
                                 hc_hash_bytes((const char *)f[0].p, (size_t)f[0].len))
                 ->known &&
            (rc = hc_buf_add(kept, p, n)))
            return rc;
    }
    t = b->rows[k];
    b->rows[k] = *kept;
    *kept = t;
    hc_buf_reset(kept);
    return 0;
}

/*
 * Drop the rows of events silver holds already: lake.known_ids on c (silver from files up to
 * b->lo; c may be the read-ahead connection, while the batch before, prev, is still being
 * written), and prev's events (NULL: none). b's rows are filtered in place; its set stays valid.
 */
static int drop_known(PGconn *c, struct batch *b, struct batch *prev, char *err, size_t cap)
{
    struct hc_buf kept = HC_BUF_INIT;
    int marked[4] = {0, 0, 0, 0}, rc;

    if (!b->nids)
        return 0;
    if ((rc = mark_in_silver(c, b, marked, err, cap)))
        return rc;
    mark_in_prev(b, prev, marked);
    for (int k = HC_KIND_ORDER_LINE; k <= HC_KIND_CAR_LISTING && !rc; k++)
        if (marked[k])
            rc = drop_marked_rows(b, k, &kept);
    hc_buf_free(&kept);
    if (rc)
        snprintf(err, cap, "dropping known events: %s", hc_strerror(rc));
    return rc;
}

/* Settle a batch read from bronze: drop the known events (drop_known), sum its order lines. */
int rx_promote__settle(PGconn *c, struct batch *b, struct batch *prev, char *err, size_t cap)
{
    int rc;

    if ((rc = drop_known(c, b, prev, err, cap)))
        return rc;
    hc_buf_reset(&b->oi);
    hc_buf_reset(&b->op);
    for (int k = 0; k < 4; k++)
        hc_buf_reset(&b->latest[k]);
    /* silver.order_status: tracking_num 3, status_time 6; car_listing: listing_id 3, event_time 2
     */
    if ((rc = rx_orders_sum(b->rows[HC_KIND_ORDER_LINE].p, b->rows[HC_KIND_ORDER_LINE].len, &b->oi,
                            &b->op)) ||
        (rc = rx_latest_rows(b->rows[HC_KIND_ORDER_STATUS].p, b->rows[HC_KIND_ORDER_STATUS].len, 3,
                             6, &b->latest[HC_KIND_ORDER_STATUS])) ||
        (rc = rx_latest_rows(b->rows[HC_KIND_CAR_LISTING].p, b->rows[HC_KIND_CAR_LISTING].len, 3, 2,
                             &b->latest[HC_KIND_CAR_LISTING]))) {
        snprintf(err, cap, "summing the batch for gold: %s", hc_strerror(rc));
        return rc;
    }
    b->checked = 1;
    return 0;
}
