/*
 * wire.h - the AMQP byte stream of a connection, on either side of proton (pure: bytes in,
 * bytes out; no I/O). conn.c puts both between the socket (or our TLS) and proton's driver.
 *
 * In: rx_amqp_wire_check sees what a client sends before proton does and finds the first
 * malformed frame, which proton 0.37 would not refuse: an unknown performative or frame type,
 * a body that is not a described list, or a list whose values are not well-formed AMQP (proton's
 * decoders read what they can and ignore the rest; a frame it cannot dispatch ends its input
 * silently, with no close frame). Checked: protocol headers ("AMQP" at a frame boundary, 8
 * bytes), frame headers (size at least 8, data offset at least 2 and inside the frame, size at
 * most max_frame), the performative (a ulong descriptor of the frame type's range, then a list,
 * every value in it well-formed, nested at most 32 deep). A transfer's payload (the message) is
 * not checked here: the front end decodes it (message.h). Frames may arrive split anywhere: the
 * checker holds the head of a frame until its performative is complete (at most max_frame).
 *
 * Out: rx_amqp_wire_pad rewrites what proton writes so that every performative carries its
 * fields up to the last one an index-reading client uses, with the specification's default
 * values (proton leaves trailing default fields out, which AMQP allows; Azure's Python client
 * azure-eventhub 5.11 reads begin[4], attach[13], a transfer's payload after field 10 and
 * disposition[5] by position, as Azure's service sends them whole). Open 10 fields, begin 8,
 * attach 14 (properties an empty map, also in place of a null: pyamqp updates a dict with it;
 * begin's handle-max likewise), flow 11, transfer 11, disposition 6, detach 3, end and close 1;
 * nothing else changes (values already written are copied as they are, the list becomes a list32).
 * A frame that would grow past the peer's max-frame-size is left as it is (so a message proton
 * splits into frames filled to the brim is not padded: a limit for index-reading clients, whose
 * events fit in one frame of theirs). Frames may be split anywhere: an incomplete one is held until
 * its end comes.
 *
 * Ownership: each state owns its held bytes; rx_amqp_wire_*_free releases them. Errors:
 * rx_amqp_wire_check returns how many bytes are good and sets *why at the first bad one (that
 * frame and all that follows are not for proton; framing says whether its header was bad);
 * rx_amqp_wire_pad returns 0 or -ENOMEM (out is then partly written: the connection must end).
 */
#ifndef RX_AMQP_WIRE_H
#define RX_AMQP_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct rx_amqp_wire_in {
    uint32_t max_frame;
    uint64_t skip;   /* bytes of the current frame still to pass unchecked (a payload) */
    struct hc_buf h; /* the unit being collected: a protocol header, or a frame's head */
    size_t want;     /* how many bytes h needs before it can be checked */
    uint32_t size;   /* the frame's size (when h holds more than its 8 header bytes) */
    int bad;         /* a malformed frame was found: nothing more is good */
    int framing;     /* it was its frame header (amqp:connection:framing-error), else its body
                        (amqp:decode-error) */
    char why[160];
    /* Called with each well-formed attach's fields (the list, encoded) before proton reads it;
       NULL: not. (Proton 0.37 keeps no link capabilities: consumer.c reads them here.) */
    void (*on_attach)(void *ctx, const uint8_t *fields, size_t len);
    void *on_attach_ctx;
};

void rx_amqp_wire_in_init(struct rx_amqp_wire_in *w, uint32_t max_frame);
/* Check the next n bytes of the stream: how many of them are good (n, or fewer and *why set). */
size_t rx_amqp_wire_check(struct rx_amqp_wire_in *w, const uint8_t *p, size_t n, const char **why);
void rx_amqp_wire_in_free(struct rx_amqp_wire_in *w);

struct rx_amqp_wire_out {
    uint32_t max_frame; /* the peer's max-frame-size (0: none yet): a frame that would grow past
                           it stays as it is (a transfer proton filled to the brim) */
    struct hc_buf h;    /* an incomplete unit (header or frame) waiting for its end */
    int raw;            /* a unit it could not read: everything from there is copied as it is */
};

/* Append the next n bytes of proton's output to out, padded. 0 or -ENOMEM. */
int rx_amqp_wire_pad(struct rx_amqp_wire_out *w, const uint8_t *p, size_t n, struct hc_buf *out);
void rx_amqp_wire_out_free(struct rx_amqp_wire_out *w);

/* 0 when p[0..n) is one well-formed AMQP value with nothing after it, else HC_E_PARSE. */
int rx_amqp_wire_value_ok(const uint8_t *p, size_t n);

#endif
