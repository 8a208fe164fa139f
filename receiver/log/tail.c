/*
 * tail.c - the partition's most recent events in memory: one chunk per durable batch (its event
 * headers and one allocation for their bytes), oldest dropped first once the chunks hold more
 * than max_bytes; the newest chunk always stays. Called under the log's mutex.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "receiver/log/log_int.h"

static size_t ev_bytes(const struct rx_event *ev)
{
    return ev->body_len + ev->props_len + (ev->pkey ? ev->pkey_len : 0);
}

static void tail_drop_oldest(struct rx_log__tail *t)
{
    struct rx_log__chunk *c = t->oldest;
    t->oldest = c->next;
    if (t->oldest)
        t->oldest->prev = NULL;
    else
        t->newest = NULL;
    t->bytes -= c->bytes;
    free(c->data);
    free(c);
}

int rx_log__tail_add(struct rx_log__tail *t, const struct rx_durable *d)
{
    size_t bytes = 0, at = 0;
    struct rx_log__chunk *c;
    for (size_t i = 0; i < d->n; i++)
        bytes += ev_bytes(d->ev[i].ev);
    if (!(c = calloc(1, sizeof *c + d->n * sizeof c->ev[0])))
        return -ENOMEM;
    if (!(c->data = malloc(bytes ? bytes : 1))) {
        free(c);
        return -ENOMEM;
    }
    for (size_t i = 0; i < d->n; i++) {
        const struct rx_event *ev = d->ev[i].ev;
        struct rx_log__tev *e = &c->ev[i];
        e->seq = d->ev[i].seq;
        e->offset = d->ev[i].offset;
        e->enq_ms = d->ev[i].enq_ms;
        e->has_body = ev->body != NULL;
        e->body_off = at;
        e->body_len = ev->body_len;
        if (ev->body_len)
            memcpy(c->data + at, ev->body, ev->body_len);
        at += ev->body_len;
        e->props_off = at;
        e->props_len = ev->props_len;
        if (ev->props_len)
            memcpy(c->data + at, ev->props, ev->props_len);
        at += ev->props_len;
        e->has_pkey = ev->pkey != NULL;
        e->pkey_off = at;
        e->pkey_len = ev->pkey ? ev->pkey_len : 0;
        if (e->pkey_len)
            memcpy(c->data + at, ev->pkey, e->pkey_len);
        at += e->pkey_len;
    }
    c->n = d->n;
    c->bytes = bytes + d->n * sizeof c->ev[0];
    c->first_seq = d->ev[0].seq;
    c->last_seq = d->ev[d->n - 1].seq;
    c->prev = t->newest;
    if (t->newest)
        t->newest->next = c;
    else
        t->oldest = c;
    t->newest = c;
    t->bytes += c->bytes;
    while (t->oldest != t->newest && t->bytes > t->max_bytes)
        tail_drop_oldest(t);
    return 0;
}

void rx_log__tail_free(struct rx_log__tail *t)
{
    while (t->oldest)
        tail_drop_oldest(t);
}

int64_t rx_log__tail_first(const struct rx_log__tail *t)
{
    return t->oldest ? t->oldest->first_seq : INT64_MAX;
}
