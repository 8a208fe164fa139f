/* record.c - the on-disk record format of the buffer (layout in queue_int.h). */
#include "agent/buffer/queue_int.h"
#include "common/error.h"

#include <string.h>

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

void ag_queue__key(uint64_t seq, uint8_t out[8])
{
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(seq >> (56 - 8 * i));
}

int ag_queue__seek(MDB_cursor *c, uint64_t seq, MDB_val *k, MDB_val *v, uint64_t *at)
{
    uint8_t key[8];
    int rc;

    ag_queue__key(seq, key);
    k->mv_size = sizeof key;
    k->mv_data = key; /* MDB_SET_RANGE points k at the found key: key is not kept */
    rc = mdb_cursor_get(c, k, v, MDB_SET_RANGE);
    if (at)
        *at = rc ? 0 : ag_queue__seq(k);
    return rc;
}

uint64_t ag_queue__seq(const MDB_val *k)
{
    const uint8_t *p = k->mv_data;
    uint64_t seq = 0;
    if (k->mv_size != 8)
        return 0;
    for (int i = 0; i < 8; i++)
        seq = seq << 8 | p[i];
    return seq;
}

size_t ag_queue__rec_size(const struct hc_event *ev, size_t json_len)
{
    return AG_REC_HDR + ev->device_id_len + json_len;
}

/* CRC-32C of the record without bytes 4..7 (where it is stored). */
static uint32_t rec_crc(const uint8_t *rec, size_t size)
{
    return ag_queue__crc32c(ag_queue__crc32c(0, rec, 4), rec + 8, size - 8);
}

char *ag_queue__rec_json(uint8_t *rec, const struct hc_event *ev)
{
    return (char *)rec + AG_REC_HDR + ev->device_id_len;
}

void ag_queue__rec_write(uint8_t *out, const struct hc_event *ev, int64_t enqueued_ms,
                         size_t json_len)
{
    size_t dlen = ev->device_id_len;
    out[0] = AG_REC_VERSION;
    out[1] = (uint8_t)ev->kind;
    out[2] = (uint8_t)dlen;
    out[3] = 0;
    put_u64(out + 8, (uint64_t)enqueued_ms);
    put_u64(out + 16, (uint64_t)ev->event_time_ms);
    memcpy(out + 24, ev->id, 16);
    put_u32(out + 40, (uint32_t)ev->schema);
    put_u32(out + 44, (uint32_t)json_len);
    /* The envelope is `..."data":` + data + `}`: data ends one byte before the end. */
    put_u32(out + 48, (uint32_t)(json_len - 1 - ev->data_len));
    memcpy(out + AG_REC_HDR, ev->device_id, dlen);
    put_u32(out + 4, rec_crc(out, AG_REC_HDR + dlen + json_len));
}

void ag_queue__rec_seal(uint8_t *rec, size_t size)
{
    put_u32(rec + 4, rec_crc(rec, size));
}

void ag_queue__rec_set_enqueued(uint8_t *rec, size_t size, int64_t ms)
{
    put_u64(rec + 8, (uint64_t)ms);
    ag_queue__rec_seal(rec, size);
}

int ag_queue__rec_read(const void *val, size_t size, struct ag_rec_view *out)
{
    const uint8_t *p = val;
    size_t dlen, jlen, doff, end;

    if (size < AG_REC_HDR || p[0] != AG_REC_VERSION || (p[3] & ~AG_REC_F_REASON))
        return HC_E_CORRUPT;
    dlen = p[2];
    jlen = get_u32(p + 44);
    doff = get_u32(p + 48);
    end = AG_REC_HDR + dlen + jlen;
    if (!dlen || dlen > HC_DEVICE_ID_MAX || end > size || doff >= jlen)
        return HC_E_CORRUPT;
    if (p[3] & AG_REC_F_REASON ? end == size || p[size - 1] != '\0' : end != size)
        return HC_E_CORRUPT;
    if (p[1] == HC_KIND_UNKNOWN || p[1] >= HC_KIND_COUNT || get_u32(p + 4) != rec_crc(p, size))
        return HC_E_CORRUPT;
    out->enqueued_ms = (int64_t)get_u64(p + 8);
    out->ev.event_time_ms = (int64_t)get_u64(p + 16);
    memcpy(out->ev.id, p + 24, 16);
    out->ev.kind = (enum hc_kind)p[1];
    out->ev.schema = (int)(int32_t)get_u32(p + 40);
    out->ev.device_id = (const char *)p + AG_REC_HDR;
    out->ev.device_id_len = dlen;
    out->json = (const char *)p + AG_REC_HDR + dlen;
    out->json_len = jlen;
    out->ev.data = out->json + doff;
    out->ev.data_len = jlen - doff - 1;
    out->reason = p[3] & AG_REC_F_REASON ? (const char *)p + end : NULL;
    return 0;
}

void ag_queue__state_put(const struct ag_state *st, uint8_t out[AG_STATE_BYTES])
{
    const uint64_t head[6] = {st->next_seq,     st->cursor,   st->queued,
                              st->queued_bytes, st->retained, st->retained_bytes};
    for (int i = 0; i < 6; i++)
        put_u64(out + 8 * i, head[i]);
    for (int i = 0; i < AG_CTR_COUNT; i++)
        put_u64(out + 8 * (6 + i), st->ctr[i]);
}

int ag_queue__state_get(const void *val, size_t size, struct ag_state *st)
{
    const uint8_t *p = val;
    if (size != AG_STATE_BYTES)
        return HC_E_CORRUPT;
    st->next_seq = get_u64(p);
    st->cursor = get_u64(p + 8);
    st->queued = get_u64(p + 16);
    st->queued_bytes = get_u64(p + 24);
    st->retained = get_u64(p + 32);
    st->retained_bytes = get_u64(p + 40);
    for (int i = 0; i < AG_CTR_COUNT; i++)
        st->ctr[i] = get_u64(p + 8 * (6 + i));
    if (!st->next_seq || !st->cursor || st->cursor > st->next_seq)
        return HC_E_CORRUPT;
    return 0;
}
