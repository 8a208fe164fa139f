/*
 * index.c - the partition's LMDB index (log.h): four tables in one environment.
 *
 *   blocks   be64(first seq)               -> struct rx_log__blk
 *   by_off   be64(first offset) be64(seq)  -> (empty)
 *   by_time  be64(enq_hi) be64(seq)        -> (empty)
 *   files    be64(file second)             -> struct rx_log__file
 *
 * Values are this host's structs: the index is derived data of this machine, never copied.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "receiver/capture/avro_enc.h"
#include "receiver/capture/avro_writer.h"
#include "receiver/log/log_int.h"

#define IX_MAPSIZE ((size_t)2 << 30) /* virtual: the file grows as it is used */

int rx_log__mdb_err(int rc)
{
    switch (rc) {
    case 0:
        return 0;
    case MDB_NOTFOUND:
        return HC_E_NOTFOUND;
    case MDB_MAP_FULL:
        return HC_E_MAPFULL;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
        return HC_E_CORRUPT;
    case MDB_VERSION_MISMATCH:
        return HC_E_VERSION;
    default:
        return rc > 0 ? -rc : HC_E_CORRUPT;
    }
}

static void be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static int env_try(struct rx_log__index *ix, const char *dir)
{
    MDB_txn *txn;
    int rc = mdb_env_create(&ix->env);
    if (rc)
        return rx_log__mdb_err(rc);
    if ((rc = mdb_env_set_maxdbs(ix->env, 4)) || (rc = mdb_env_set_mapsize(ix->env, IX_MAPSIZE)) ||
        (rc = mdb_env_open(ix->env, dir, MDB_NOSYNC | MDB_NOTLS, 0644)))
        goto out_env;
    if ((rc = mdb_txn_begin(ix->env, NULL, 0, &txn)))
        goto out_env;
    if ((rc = mdb_dbi_open(txn, "blocks", MDB_CREATE, &ix->blocks)) ||
        (rc = mdb_dbi_open(txn, "by_off", MDB_CREATE, &ix->by_off)) ||
        (rc = mdb_dbi_open(txn, "by_time", MDB_CREATE, &ix->by_time)) ||
        (rc = mdb_dbi_open(txn, "files", MDB_CREATE, &ix->files))) {
        mdb_txn_abort(txn);
        goto out_env;
    }
    if ((rc = mdb_txn_commit(txn)))
        goto out_env;
    return 0;
out_env:
    mdb_env_close(ix->env);
    ix->env = NULL;
    return rx_log__mdb_err(rc);
}

static void env_remove(const char *dir)
{
    char p[RX_PATH_MAX + 16];
    snprintf(p, sizeof p, "%s/data.mdb", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/lock.mdb", dir);
    unlink(p);
}

int rx_log__index_open(struct rx_log__index *ix, const char *dir)
{
    int rc = rx_mkdirs(dir);
    if (rc)
        return rc;
    rc = env_try(ix, dir);
    if (rc == HC_E_CORRUPT || rc == HC_E_VERSION || rc == -EINVAL) {
        env_remove(dir); /* derived data: start it again */
        rc = env_try(ix, dir);
    }
    return rc;
}

void rx_log__index_close(struct rx_log__index *ix)
{
    if (!ix->env)
        return;
    mdb_env_sync(ix->env, 1);
    mdb_env_close(ix->env);
    ix->env = NULL;
}

/* ---- Rows ----------------------------------------------------------------------------------- */

static int put_pair(MDB_txn *txn, MDB_dbi dbi, uint64_t a, uint64_t b)
{
    uint8_t k[16];
    MDB_val key = {16, k}, val = {0, k};
    be64(k, a);
    be64(k + 8, b);
    return mdb_put(txn, dbi, &key, &val, 0);
}

static int del_pair(MDB_txn *txn, MDB_dbi dbi, uint64_t a, uint64_t b)
{
    uint8_t k[16];
    MDB_val key = {16, k};
    int rc;
    be64(k, a);
    be64(k + 8, b);
    rc = mdb_del(txn, dbi, &key, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int rx_log__put_block(struct rx_log__index *ix, MDB_txn *txn, const struct rx_log__blk *b)
{
    uint8_t k[8];
    MDB_val key = {8, k}, val = {sizeof *b, (void *)b};
    int rc;
    be64(k, (uint64_t)b->seq);
    if ((rc = mdb_put(txn, ix->blocks, &key, &val, 0)) ||
        (rc = put_pair(txn, ix->by_off, (uint64_t)b->offset, (uint64_t)b->seq)) ||
        (rc = put_pair(txn, ix->by_time, (uint64_t)b->enq_hi, (uint64_t)b->seq)))
        return rx_log__mdb_err(rc);
    return 0;
}

int rx_log__put_file(struct rx_log__index *ix, MDB_txn *txn, const struct rx_log__file *f)
{
    uint8_t k[8];
    MDB_val key = {8, k}, val = {sizeof *f, (void *)f};
    be64(k, (uint64_t)f->file_s);
    return rx_log__mdb_err(mdb_put(txn, ix->files, &key, &val, 0));
}

int rx_log__get_file(struct rx_log__index *ix, MDB_txn *txn, int64_t file_s, struct rx_log__file *f)
{
    uint8_t k[8];
    MDB_val key = {8, k}, val;
    int rc;
    be64(k, (uint64_t)file_s);
    if ((rc = mdb_get(txn, ix->files, &key, &val)))
        return rx_log__mdb_err(rc);
    if (val.mv_size != sizeof *f)
        return HC_E_CORRUPT;
    memcpy(f, val.mv_data, sizeof *f);
    return 0;
}

static int blk_of(const MDB_val *val, struct rx_log__blk *b)
{
    if (val->mv_size != sizeof *b)
        return HC_E_CORRUPT;
    memcpy(b, val->mv_data, sizeof *b);
    return 0;
}

/* The blocks of file f (by its range of sequence numbers), into *out (malloc'd). */
static int file_blocks(struct rx_log__index *ix, MDB_txn *txn, const struct rx_log__file *f,
                       struct rx_log__blk **out, size_t *n)
{
    MDB_cursor *cur;
    uint8_t k[8];
    MDB_val key = {8, k}, val;
    size_t cap = 0;
    int rc;
    *out = NULL;
    *n = 0;
    if ((rc = mdb_cursor_open(txn, ix->blocks, &cur)))
        return rx_log__mdb_err(rc);
    be64(k, (uint64_t)f->first_seq);
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE); !rc;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        struct rx_log__blk b;
        if ((rc = blk_of(&val, &b)) || b.seq > f->last_seq)
            break;
        if (b.file_s != f->file_s)
            continue;
        if (*n == cap) {
            struct rx_log__blk *nb = realloc(*out, (cap = cap ? cap * 2 : 64) * sizeof *nb);
            if (!nb) {
                rc = -ENOMEM;
                break;
            }
            *out = nb;
        }
        (*out)[(*n)++] = b;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc > 0 ? rx_log__mdb_err(rc) : rc;
}

int rx_log__drop_file(struct rx_log__index *ix, MDB_txn *txn, const struct rx_log__file *f)
{
    struct rx_log__blk *bl = NULL;
    size_t n = 0;
    uint8_t k[8];
    MDB_val key = {8, k};
    int rc = 0;
    if (f->first_seq >= 0 && (rc = file_blocks(ix, txn, f, &bl, &n)))
        goto out_free;
    for (size_t i = 0; i < n && !rc; i++) {
        be64(k, (uint64_t)bl[i].seq);
        if ((rc = del_pair(txn, ix->by_off, (uint64_t)bl[i].offset, (uint64_t)bl[i].seq)) ||
            (rc = del_pair(txn, ix->by_time, (uint64_t)bl[i].enq_hi, (uint64_t)bl[i].seq)))
            break;
        rc = mdb_del(txn, ix->blocks, &key, NULL);
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    if (!rc) {
        be64(k, (uint64_t)f->file_s);
        rc = mdb_del(txn, ix->files, &key, NULL);
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    rc = rc > 0 ? rx_log__mdb_err(rc) : rc;
out_free:
    free(bl);
    return rc;
}

/* ---- Searches ------------------------------------------------------------------------------- */

static int get_block(struct rx_log__index *ix, MDB_txn *txn, int64_t seq, struct rx_log__blk *b)
{
    uint8_t k[8];
    MDB_val key = {8, k}, val;
    int rc;
    be64(k, (uint64_t)seq);
    if ((rc = mdb_get(txn, ix->blocks, &key, &val)))
        return rx_log__mdb_err(rc);
    return blk_of(&val, b);
}

int rx_log__find_seq(struct rx_log__index *ix, MDB_txn *txn, int64_t seq, struct rx_log__blk *b)
{
    MDB_cursor *cur;
    uint8_t k[8];
    MDB_val key = {8, k}, val;
    int rc;
    if ((rc = mdb_cursor_open(txn, ix->blocks, &cur)))
        return rx_log__mdb_err(rc);
    be64(k, (uint64_t)(seq < 0 ? 0 : seq));
    rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
    if (!rc && get_be64(key.mv_data) == (uint64_t)seq) {
        rc = blk_of(&val, b);
        goto out;
    }
    /* the block before may hold seq */
    rc = mdb_cursor_get(cur, &key, &val, rc ? MDB_LAST : MDB_PREV);
    if (!rc && !(rc = blk_of(&val, b)) && b->last_seq >= seq)
        goto out;
    be64(k, (uint64_t)(seq < 0 ? 0 : seq));
    rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
    rc = rc ? rx_log__mdb_err(rc) : blk_of(&val, b);
out:
    mdb_cursor_close(cur);
    return rc > 0 ? rx_log__mdb_err(rc) : rc;
}

int rx_log__find_offset(struct rx_log__index *ix, MDB_txn *txn, int64_t off, struct rx_log__blk *b)
{
    MDB_cursor *cur;
    uint8_t k[16];
    MDB_val key = {16, k}, val;
    int rc;
    if ((rc = mdb_cursor_open(txn, ix->by_off, &cur)))
        return rx_log__mdb_err(rc);
    be64(k, (uint64_t)(off < 0 ? 0 : off));
    be64(k + 8, 0);
    rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
    if (rc || get_be64(key.mv_data) != (uint64_t)off) {
        /* the block before starts below off and may reach it */
        int prc = mdb_cursor_get(cur, &key, &val, rc ? MDB_LAST : MDB_PREV);
        if (prc && rc) {
            mdb_cursor_close(cur);
            return rx_log__mdb_err(prc);
        }
        if (prc) /* none before: the first */
            rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST);
        else
            rc = 0;
    }
    if (!rc)
        rc = get_block(ix, txn, (int64_t)get_be64((uint8_t *)key.mv_data + 8), b);
    else
        rc = rx_log__mdb_err(rc);
    mdb_cursor_close(cur);
    return rc;
}

int rx_log__find_time(struct rx_log__index *ix, MDB_txn *txn, int64_t t, struct rx_log__blk *b)
{
    MDB_cursor *cur;
    uint8_t k[16];
    MDB_val key = {16, k}, val;
    int rc;
    if ((rc = mdb_cursor_open(txn, ix->by_time, &cur)))
        return rx_log__mdb_err(rc);
    be64(k, (uint64_t)(t < 0 ? 0 : t));
    be64(k + 8, 0);
    rc = mdb_cursor_get(cur, &key, &val, MDB_SET_RANGE);
    if (!rc)
        rc = get_block(ix, txn, (int64_t)get_be64((uint8_t *)key.mv_data + 8), b);
    else
        rc = rx_log__mdb_err(rc);
    mdb_cursor_close(cur);
    return rc;
}

int rx_log__edge_block(struct rx_log__index *ix, MDB_txn *txn, int last, struct rx_log__blk *b)
{
    MDB_cursor *cur;
    MDB_val key, val;
    int rc;
    if ((rc = mdb_cursor_open(txn, ix->blocks, &cur)))
        return rx_log__mdb_err(rc);
    rc = mdb_cursor_get(cur, &key, &val, last ? MDB_LAST : MDB_FIRST);
    rc = rc ? rx_log__mdb_err(rc) : blk_of(&val, b);
    mdb_cursor_close(cur);
    return rc;
}

int rx_log__each_file(struct rx_log__index *ix, MDB_txn *txn, rx_log__file_fn fn, void *ctx)
{
    MDB_cursor *cur;
    MDB_val key, val;
    int rc, ret = 0;
    if ((rc = mdb_cursor_open(txn, ix->files, &cur)))
        return rx_log__mdb_err(rc);
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); !rc;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        struct rx_log__file f;
        if (val.mv_size != sizeof f) {
            ret = HC_E_CORRUPT;
            break;
        }
        memcpy(&f, val.mv_data, sizeof f);
        if ((ret = fn(ctx, &f)))
            break;
    }
    mdb_cursor_close(cur);
    if (ret)
        return ret;
    return rc == MDB_NOTFOUND ? 0 : rx_log__mdb_err(rc);
}

void rx_log__counts(struct rx_log__index *ix, MDB_txn *txn, int64_t *files, int64_t *blocks)
{
    MDB_stat st;
    *files = *blocks = 0;
    if (!mdb_stat(txn, ix->files, &st))
        *files = (int64_t)st.ms_entries;
    if (!mdb_stat(txn, ix->blocks, &st))
        *blocks = (int64_t)st.ms_entries;
}

/* ---- Block framing -------------------------------------------------------------------------- */

int rx_log__frame(const uint8_t *p, size_t len, const uint8_t sync[16], struct rx_log__frame *f)
{
    const uint8_t *q = p, *end = p + len;
    int64_t count, size;
    if (rx_avro_get_long(&q, end, &count) || rx_avro_get_long(&q, end, &size) || count <= 0 ||
        size < 0 || (uint64_t)size > (uint64_t)(end - q) || (size_t)(end - q) - (size_t)size < 16)
        return HC_E_PARSE;
    if (memcmp(q + size, sync, 16))
        return HC_E_PARSE;
    f->count = count;
    f->data_off = (size_t)(q - p);
    f->data_len = (size_t)size;
    f->len = f->data_off + (size_t)size + 16;
    return 0;
}
