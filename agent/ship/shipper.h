/*
 * shipper.h - takes the oldest queued events, sends them in batches through a transport, and
 * advances the buffer's cursor only when the hub acknowledged them (DESIGN.md "Shipper").
 *
 * A send answers per record (transport.h): the cursor moves over the records the hub stored (a
 * contiguous prefix of the batch), then the result tells what became of the rest:
 *   OK      ag_queue_ack through the batch's last seq.
 *   RETRY   back off exponentially with full jitter (base 100 ms, capped), or exactly the
 *           server's Retry-After; each failed attempt counts in AG_CTR_RETRIED. Auth refused:
 *           renew the token once and retry at once; refused again: pause (report, try again
 *           after pause_ms with a fresh token).
 *   REJECT  size/format (400/413, a rejected AMQP delivery): when the hub named the event (a
 *           per-event answer) it goes to the dead-letter store at once, with the hub's answer as
 *           the reason; when it refused a whole body, the batch is split in halves until the
 *           offending event is alone. The rest ships. The request as a whole refused (404
 *           unknown hub, amqp:not-found, ...): pause and report.
 * An event too big for any batch is dead-lettered without a send. Catch-up: while a backlog of
 * more than one batch waits, sending is limited to catch_up_rate events/s (0 = no limit), so a
 * reconnecting fleet does not flood the hub or the link.
 *
 * Limits (max_batch_bytes, max_event_bytes, max_batch_events) are the transport's, read again
 * after every send (AMQP learns max-message-size at the attach), and opts.max_batch_events.
 * With a transport that keeps batches in flight (begin/end, transport.h) and a backlog, the
 * next batch is begun before the answers of the one before came (two at most, not while a
 * rejected batch is split, not from ag_shipper_step); answers are taken in order, and one that
 * is not a whole OK forgets the later batches, which are sent again from the cursor.
 *
 * One shipper per buffer: ag_shipper_new takes an exclusive lock on DIR/ship.lock. The state a
 * user wants to see (last error, last success, back-off, paused, the transport and its
 * counters) is written to DIR/ship.json (replaced atomically) when it changes and at most once a
 * second otherwise; the buffer's own counters live in the buffer.
 */
#ifndef AG_SHIPPER_H
#define AG_SHIPPER_H

#include <stddef.h>
#include <stdint.h>

#include "agent/buffer/queue.h"
#include "agent/transport/transport.h"

struct ag_shipper_opts {
    const struct ag_transport *tp;
    const struct ag_kv *conf; /* transport settings, passed to tp->init */
    size_t nconf;
    void *tp_arg;            /* passed to tp->init (a decorator's inner transport); may be NULL */
    size_t max_batch_events; /* 0 = 5000 */
    int64_t linger_ms;       /* wait this long for a batch to fill (not with once); 0 = 100 */
    double catch_up_rate;    /* events/s while a backlog drains; 0 = unlimited */
    int64_t backoff_max_ms;  /* cap of the exponential back-off; 0 = 30 s */
    int64_t pause_ms;        /* after auth/refused: wait this long, then try again; 0 = 60 s */
    int once;                /* drain what is queued, then return */
    int64_t give_up_ms;      /* once: give up after this long without progress; 0 = 60 s */
    volatile int *stop;      /* set non-zero to return after the current send */
};

/* What the shipper has done; also written to DIR/ship.json. */
struct ag_ship_state {
    uint64_t shipped, dead, retried, sends;
    int64_t last_success_ms; /* 0 = never */
    int64_t backoff_ms;      /* current back-off, 0 when none */
    int paused;              /* auth or the hub refused the requests: waiting, see last_error */
    char last_error[AG_SEND_CODE_MAX + AG_SEND_ERROR_MAX]; /* "CODE: sentence" */
    char transport[16];                                    /* its name, "" when unknown */
    struct ag_transport_counters tp;                       /* the transport's counters */
};

struct ag_shipper;

/*
 * Prepare a shipper for the buffer q, which lives in folder dir. The transport is initialised
 * (no connection yet). Returns 0 and *out, or: -EWOULDBLOCK when another shipper holds the
 * buffer (err names its pid when known), or the transport's init error; err (errlen bytes)
 * always gets a sentence a user can act on.
 */
int ag_shipper_new(struct ag_queue *q, const char *dir, const struct ag_shipper_opts *opts,
                   struct ag_shipper **out, char *err, size_t errlen);

/*
 * Ship until *stop, or with once until the queue is empty. Returns 0; HC_E_AUTH (once: auth
 * still refused after a renewal, or requests refused as a whole); HC_E_RETRY (once: no
 * progress for give_up_ms); or a buffer error. ag_shipper_state tells the details.
 */
int ag_shipper_run(struct ag_shipper *s);

/*
 * Non-blocking, for a caller that drives many shippers from a few threads (hubcap-fleet): at
 * most one send (or one dead-letter) now, and no sleep. A back-off, a catch-up wait or a pause
 * is recorded instead, and a call before it is over does nothing. opts.once, linger_ms,
 * give_up_ms and stop are not used: pacing is the caller's. *next_ms (may be NULL) gets when to
 * call again: 0 at once (more is queued), N > 0 in N ms (a back-off or pause runs), -1 when the
 * queue was empty (call when there is something new). Returns 0; HC_E_AUTH or HC_E_REJECT when
 * the hub refused (auth or the requests as a whole: paused for pause_ms, then tried again with
 * a fresh token, last_error tells why); or a buffer error. Do not mix with ag_shipper_run on
 * the same shipper.
 */
int ag_shipper_step(struct ag_shipper *s, int64_t *next_ms);

const struct ag_ship_state *ag_shipper_state(const struct ag_shipper *s);

/* Release; accepts NULL. */
void ag_shipper_free(struct ag_shipper *s);

/* Read DIR/ship.json as written by a shipper (maybe of another process). HC_E_NOTFOUND when no
 * shipper ever ran there. */
int ag_ship_state_read(const char *dir, struct ag_ship_state *st);

#endif
