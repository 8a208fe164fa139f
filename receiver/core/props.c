#include "receiver/core/props.h"

#include <errno.h>
#include <string.h>

#include "common/error.h"
#include "receiver/capture/avro_enc.h"

const uint8_t rx_props_empty[1] = {0};

void rx_props_init(struct rx_props *p)
{
    memset(p, 0, sizeof *p);
}

void rx_props_reset(struct rx_props *p)
{
    hc_buf_reset(&p->enc);
    p->count = 0;
}

void rx_props_free(struct rx_props *p)
{
    hc_buf_free(&p->enc);
    p->count = 0;
}

static int refuse(const char **why, const char *text)
{
    if (why)
        *why = text;
    return HC_E_INVAL;
}

/* Add the name and the branch; the caller appends the value (or undoes to *mark). */
static int entry(struct rx_props *p, const char *name, size_t len, int64_t branch, size_t *mark,
                 const char **why)
{
    struct hc_buf *e = &p->enc;
    if (p->count == RX_PROPS_MAX)
        return refuse(why, "more than 64 user properties on one event");
    for (size_t i = 0; i < p->count; i++)
        if (p->name_len[i] == len && !memcmp(e->p + p->name_off[i], name, len))
            return refuse(why, "a user property is given twice");
    *mark = e->len;
    if (rx_avro_put_long(e, (int64_t)len))
        return -ENOMEM;
    p->name_off[p->count] = e->len;
    p->name_len[p->count] = len;
    if (hc_buf_add(e, name, len) || rx_avro_put_long(e, branch)) {
        hc_buf_truncate(e, *mark);
        return -ENOMEM;
    }
    return 0;
}

static int done(struct rx_props *p, size_t mark, int failed)
{
    if (failed) {
        hc_buf_truncate(&p->enc, mark);
        return -ENOMEM;
    }
    p->count++;
    return 0;
}

int rx_props_long(struct rx_props *p, const char *name, size_t len, int64_t v, const char **why)
{
    size_t mark;
    int rc = entry(p, name, len, RX_AVRO_LONG, &mark, why);
    return rc ? rc : done(p, mark, rx_avro_put_long(&p->enc, v));
}

int rx_props_double(struct rx_props *p, const char *name, size_t len, double v, const char **why)
{
    size_t mark;
    int rc = entry(p, name, len, RX_AVRO_DOUBLE, &mark, why);
    return rc ? rc : done(p, mark, rx_avro_put_double(&p->enc, v));
}

int rx_props_string(struct rx_props *p, const char *name, size_t len, const void *s, size_t n,
                    const char **why)
{
    size_t mark;
    int rc = entry(p, name, len, RX_AVRO_STRING, &mark, why);
    return rc ? rc : done(p, mark, rx_avro_put_bytes(&p->enc, s, n));
}

int rx_props_bytes(struct rx_props *p, const char *name, size_t len, const void *s, size_t n,
                   const char **why)
{
    size_t mark;
    int rc = entry(p, name, len, RX_AVRO_BYTES, &mark, why);
    return rc ? rc : done(p, mark, rx_avro_put_bytes(&p->enc, s, n));
}

int rx_props_finish(const struct rx_props *p, struct hc_buf *out)
{
    size_t mark = out->len;
    if (p->count &&
        (rx_avro_put_long(out, (int64_t)p->count) || hc_buf_add(out, p->enc.p, p->enc.len))) {
        hc_buf_truncate(out, mark);
        return -ENOMEM;
    }
    if (rx_avro_put_long(out, 0)) {
        hc_buf_truncate(out, mark);
        return -ENOMEM;
    }
    return 0;
}
