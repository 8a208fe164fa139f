#include "receiver/lake/orders.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/rules.h"

__extension__ typedef __int128 i128;
__extension__ typedef unsigned __int128 u128;

/* silver.order_line's columns, as the tuples hold them */
enum {
    C_EVENT_TIME = 2,
    C_INVOICE = 3,
    C_STOCK = 4,
    C_DESC = 5,
    C_QTY = 6,
    C_PRICE = 7,
    C_INVOICE_DATE = 8,
    C_CUSTOMER = 9,
    C_FILE = 11,
    N_COLS = 12
};

#define PG_EPOCH_US 946684800000000LL /* 2000-01-01 in Unix microseconds */
#define MINUTE_US   60000000LL

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

static int fld_eq(const struct rx_col *a, const struct rx_col *b)
{
    return a->len == b->len && (a->len <= 0 || !memcmp(a->p, b->p, (size_t)a->len));
}

/* Byte order, a NULL below everything (the caller skips NULLs). */
static int fld_cmp(const struct rx_col *a, const struct rx_col *b)
{
    size_t n = (size_t)(a->len < b->len ? a->len : b->len);
    int c = n ? memcmp(a->p, b->p, n) : 0;

    return c ? c : (a->len > b->len) - (a->len < b->len);
}

static uint64_t fld_hash(uint64_t h, const struct rx_col *f)
{
    if (f->len < 0)
        return h * 31 + 7;
    return h * 31 + hc_hash_bytes((const char *)f->p, (size_t)f->len);
}

int rx_tuple_split(const unsigned char *p, const unsigned char *end, struct rx_col *f, int cap,
                   int *nf, size_t *n)
{
    const unsigned char *q = p + 2;

    if (end - p < 2 || (*nf = p[0] << 8 | p[1]) > cap)
        return HC_E_PARSE;
    for (int i = 0; i < *nf; i++) {
        uint32_t l;
        if (end - q < 4)
            return HC_E_PARSE;
        l = be32(q);
        q += 4;
        f[i].p = q;
        f[i].len = l == 0xFFFFFFFFu ? -1 : (int64_t)l;
        if (l == 0xFFFFFFFFu)
            continue;
        if ((size_t)(end - q) < l)
            return HC_E_PARSE;
        q += l;
    }
    *n = (size_t)(q - p);
    return 0;
}

/* Split one order-line tuple at p into its columns; *n: its length. */
static int split(const unsigned char *p, const unsigned char *end, struct rx_col *f, size_t *n)
{
    int nf;

    if (rx_tuple_split(p, end, f, N_COLS, &nf, n) || nf != N_COLS)
        return HC_E_PARSE;
    return 0;
}

/* A timestamptz or int8 column as an integer (timestamps: Unix microseconds). */
static int col_i64(const struct rx_col *f, int64_t add, int64_t *v)
{
    if (f->len != 8)
        return HC_E_PARSE;
    *v = be64(f->p) + add;
    return 0;
}

/*
 * A numeric column in 1/10000, rounded half away from zero at the 4th decimal as numeric(14,4)
 * stores it: base-10000 digits, the first's weight (its power of 10000), a sign.
 */
static int col_price4(const struct rx_col *f, int64_t *v)
{
    const unsigned char *p = f->p;
    int nd, weight, sign;
    int64_t x = 0;

    if (f->len < 8)
        return HC_E_PARSE;
    nd = p[0] << 8 | p[1];
    weight = (int16_t)(p[2] << 8 | p[3]);
    sign = p[4] << 8 | p[5];
    if ((sign != 0 && sign != 0x4000) || f->len != 8 + 2 * (int64_t)nd || weight > 2)
        return HC_E_PARSE;
    for (int i = 0; i < nd; i++) {
        int pos = weight - i, g = p[8 + 2 * i] << 8 | p[9 + 2 * i];
        if (pos >= 0) {
            int64_t m = 10000;
            for (int k = 0; k < pos; k++)
                m *= 10000;
            x += g * m;
        } else if (pos == -1) {
            x += g;
        } else if (pos == -2) {
            x += g >= 5000;
        }
    }
    *v = sign ? -x : x;
    return 0;
}

/* ---- the two groupings: open addressing, keys pointing into the rows ------------------------ */

struct oi {
    uint64_t h; /* 0: empty */
    int64_t file, minute;
    struct rx_col invoice, customer;
    i128 sales, rvalue;
    int64_t lines, returned, first, last;
};

struct op {
    uint64_t h;
    struct rx_col code, desc;
    int64_t qty;
    i128 revenue;
};

struct table {
    void *slots;
    size_t n, cap, size; /* cap: a power of two; size: bytes a slot */
};

/* The slot for hash h where eq(slot) holds or the empty one (growing first when half full). */
static void *slot_for(struct table *t, uint64_t h, int (*eq)(const void *, const void *),
                      const void *key)
{
    size_t mask;

    if ((t->n + 1) * 2 > t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 1024;
        char *ns = calloc(cap, t->size), *old = t->slots;
        if (!ns)
            return NULL;
        for (size_t i = 0; i < t->cap; i++) {
            uint64_t oh = *(uint64_t *)(void *)(old + i * t->size);
            size_t j = oh & (cap - 1);
            if (!oh)
                continue;
            while (*(uint64_t *)(void *)(ns + j * t->size))
                j = (j + 1) & (cap - 1);
            memcpy(ns + j * t->size, old + i * t->size, t->size);
        }
        free(old);
        t->slots = ns;
        t->cap = cap;
    }
    mask = t->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        char *s = (char *)t->slots + i * t->size;
        uint64_t sh = *(uint64_t *)(void *)s;
        if (!sh || (sh == h && eq(s, key)))
            return s;
    }
}

static int oi_eq(const void *a, const void *b)
{
    const struct oi *x = a, *y = b;
    return x->file == y->file && x->minute == y->minute && fld_eq(&x->invoice, &y->invoice) &&
           fld_eq(&x->customer, &y->customer);
}

static int op_eq(const void *a, const void *b)
{
    return fld_eq(&((const struct op *)a)->code, &((const struct op *)b)->code);
}

/* ---- output --------------------------------------------------------------------------------- */

/* v / 10000 with 4 decimals. */
static int add_dec4(struct hc_buf *b, i128 v)
{
    char t[48], *e = t + sizeof t, *s = e;
    u128 u = v < 0 ? (u128)0 - (u128)v : (u128)v;

    for (int i = 0; i < 4; i++, u /= 10)
        *--s = (char)('0' + (int)(u % 10));
    *--s = '.';
    do {
        *--s = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    if (v < 0)
        *--s = '-';
    return hc_buf_add(b, s, (size_t)(e - s));
}

static int add_ts(struct hc_buf *b, int64_t us)
{
    char t[HC_TS_STRLEN];
    return hc_buf_add(b, t, (size_t)hc_ts_format(us, t));
}

static int add_text(struct hc_buf *b, const struct rx_col *f)
{
    if (f->len < 0)
        return hc_buf_add(b, "\\N", 2);
    return hc_copy_escape(b, (const char *)f->p, (size_t)f->len);
}

static int put_oi(struct hc_buf *b, const struct oi *g)
{
    if (hc_buf_add_i64(b, g->file) || hc_buf_addc(b, '\t') || add_ts(b, g->minute) ||
        hc_buf_addc(b, '\t') || add_text(b, &g->invoice) || hc_buf_addc(b, '\t') ||
        add_text(b, &g->customer) || hc_buf_addc(b, '\t') || add_dec4(b, g->sales) ||
        hc_buf_addc(b, '\t') || hc_buf_add_i64(b, g->lines) || hc_buf_addc(b, '\t') ||
        hc_buf_add_i64(b, g->returned) || hc_buf_addc(b, '\t') ||
        (g->returned ? add_dec4(b, g->rvalue) : hc_buf_add(b, "\\N", 2)) || hc_buf_addc(b, '\t') ||
        add_ts(b, g->first) || hc_buf_addc(b, '\t') || add_ts(b, g->last) || hc_buf_addc(b, '\n'))
        return -ENOMEM;
    return 0;
}

static int put_op(struct hc_buf *b, const struct op *g)
{
    if (add_text(b, &g->code) || hc_buf_addc(b, '\t') || add_text(b, &g->desc) ||
        hc_buf_addc(b, '\t') || hc_buf_add_i64(b, g->qty) || hc_buf_addc(b, '\t') ||
        add_dec4(b, g->revenue) || hc_buf_addc(b, '\n'))
        return -ENOMEM;
    return 0;
}

/* ---- the sums ------------------------------------------------------------------------------- */

/* Add one line (its columns f) to both groupings. */
static int add_line(struct table *ois, struct table *ops, const struct rx_col *f)
{
    struct oi k;
    struct op *p, pk;
    struct oi *g;
    int64_t event_us, invoice_us, price, m;
    int32_t qty;
    i128 amount;
    int rc;

    if ((rc = col_i64(&f[C_EVENT_TIME], PG_EPOCH_US, &event_us)) ||
        (rc = col_i64(&f[C_INVOICE_DATE], PG_EPOCH_US, &invoice_us)) ||
        (rc = col_i64(&f[C_FILE], 0, &k.file)) || (rc = col_price4(&f[C_PRICE], &price)))
        return rc;
    if (f[C_QTY].len != 4 || f[C_INVOICE].len < 0 || f[C_STOCK].len < 0)
        return HC_E_PARSE;
    qty = (int32_t)be32(f[C_QTY].p);
    amount = (i128)qty * price;
    m = event_us % MINUTE_US;
    k.minute = event_us - (m < 0 ? m + MINUTE_US : m);
    k.invoice = f[C_INVOICE];
    k.customer = f[C_CUSTOMER];
    k.h = fld_hash(fld_hash((uint64_t)k.file * 1000003 ^ (uint64_t)k.minute, &k.invoice),
                   &k.customer);
    k.h = k.h ? k.h : 1;
    if (!(g = slot_for(ois, k.h, oi_eq, &k)))
        return -ENOMEM;
    if (!g->h) {
        *g = k;
        g->sales = g->rvalue = 0;
        g->lines = g->returned = 0;
        g->first = g->last = invoice_us;
        ois->n++;
    }
    g->sales += amount;
    g->lines++;
    if (qty < 0) {
        g->returned++;
        g->rvalue += amount;
    }
    if (invoice_us < g->first)
        g->first = invoice_us;
    if (invoice_us > g->last)
        g->last = invoice_us;

    if (f[C_INVOICE].len > 0 && f[C_INVOICE].p[0] == 'C')
        return 0; /* cancellations are not products' sales */
    pk.code = f[C_STOCK];
    pk.h = hc_hash_bytes((const char *)pk.code.p, (size_t)pk.code.len);
    if (!(p = slot_for(ops, pk.h, op_eq, &pk)))
        return -ENOMEM;
    if (!p->h) {
        *p = pk;
        p->desc.p = NULL;
        p->desc.len = -1;
        p->qty = 0;
        p->revenue = 0;
        ops->n++;
    }
    if (f[C_DESC].len >= 0 && (p->desc.len < 0 || fld_cmp(&f[C_DESC], &p->desc) > 0))
        p->desc = f[C_DESC];
    p->qty += qty;
    p->revenue += amount;
    return 0;
}

int rx_orders_sum(const char *rows, size_t len, struct hc_buf *oi, struct hc_buf *op)
{
    const unsigned char *p = (const unsigned char *)rows, *end = p + len;
    struct table ois = {NULL, 0, 0, sizeof(struct oi)}, ops = {NULL, 0, 0, sizeof(struct op)};
    struct rx_col f[N_COLS];
    size_t n = 0;
    int rc = 0;

    for (; p < end && !rc; p += n)
        if (!(rc = split(p, end, f, &n)))
            rc = add_line(&ois, &ops, f);
    for (size_t i = 0; !rc && i < ois.cap; i++) {
        const struct oi *g = (const struct oi *)ois.slots + i;
        if (g->h)
            rc = put_oi(oi, g);
    }
    for (size_t i = 0; !rc && i < ops.cap; i++) {
        const struct op *g = (const struct op *)ops.slots + i;
        if (g->h)
            rc = put_op(op, g);
    }
    free(ois.slots);
    free(ops.slots);
    return rc;
}

/* ---- the latest row per key ----------------------------------------------------------------- */

struct latest {
    uint64_t h;
    struct rx_col key, id; /* id: the event_id, column 0 */
    int64_t time;
    const unsigned char *row;
    size_t len;
};

static int latest_eq(const void *a, const void *b)
{
    return fld_eq(&((const struct latest *)a)->key, &((const struct latest *)b)->key);
}

int rx_latest_rows(const char *rows, size_t len, int key_col, int time_col, struct hc_buf *out)
{
    const unsigned char *p = (const unsigned char *)rows, *end = p + len;
    struct table t = {NULL, 0, 0, sizeof(struct latest)};
    struct rx_col f[32];
    size_t n = 0;
    int nf = 0, rc = 0;

    for (; p < end && !rc; p += n) {
        struct latest k, *g;
        if ((rc = rx_tuple_split(p, end, f, 32, &nf, &n)))
            break;
        if (key_col >= nf || time_col >= nf || f[key_col].len < 0 || f[0].len < 0 ||
            (rc = col_i64(&f[time_col], 0, &k.time)))
            break;
        k.key = f[key_col];
        k.id = f[0];
        k.row = p;
        k.len = n;
        k.h = hc_hash_bytes((const char *)k.key.p, (size_t)k.key.len);
        if (!(g = slot_for(&t, k.h, latest_eq, &k))) {
            rc = -ENOMEM;
            break;
        }
        if (!g->h) {
            *g = k;
            t.n++;
        } else if (k.time > g->time || (k.time == g->time && fld_cmp(&k.id, &g->id) > 0)) {
            *g = k;
        }
    }
    if (!rc && p < end)
        rc = HC_E_PARSE;
    for (size_t i = 0; !rc && i < t.cap; i++) {
        const struct latest *g = (const struct latest *)t.slots + i;
        if (g->h)
            rc = hc_buf_add(out, g->row, g->len);
    }
    free(t.slots);
    return rc;
}
