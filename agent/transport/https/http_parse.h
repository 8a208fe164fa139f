/*
 * http_parse.h - the pure half of http_client.c (internal to the https module): finding and
 * reading an answer's head, and following its body's framing byte by byte. No I/O, no memory.
 */
#ifndef AG_HTTP_PARSE_H
#define AG_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "agent/transport/https/http_client.h"

enum ag_http__framing {
    AG_HTTP__NONE = 0, /* no body (1xx, 204, 304) */
    AG_HTTP__LENGTH,   /* Content-Length bytes */
    AG_HTTP__CHUNKED,  /* chunked transfer-coding */
    AG_HTTP__CLOSE,    /* until the server closes the connection */
};

/* Where a body's framing stands. Set by ag_http__head_parse, advanced by ag_http__body_feed. */
struct ag_http__body {
    enum ag_http__framing framing;
    uint64_t left; /* LENGTH: bytes to go; CHUNKED: bytes to go in the current chunk */
    int state;     /* CHUNKED: where in the chunk syntax */
    int digits;    /* CHUNKED: hex digits read in the size line */
    size_t line;   /* CHUNKED: bytes read in the current size or trailer line */
};

/*
 * The length of the head at the start of p[0..n): the status line and header lines up to and
 * including the empty line that ends them (CRLF or a bare LF). 0 when the empty line has not
 * arrived yet.
 */
size_t ag_http__head_end(const char *p, size_t n);

/*
 * Read the head p[0..n) (a length from ag_http__head_end): set rs->status, rs->conn_close (what
 * the head says: "Connection: close", or HTTP/1.0 without keep-alive), rs->retry_after and
 * rs->retry_after_ms, and *b for the body that follows. Returns 0, or AG_HTTP_E_PROTOCOL with a
 * reason in rs->detail (a bad status line, header line or Content-Length).
 */
int ag_http__head_parse(const char *p, size_t n, struct ag_http_response *rs,
                        struct ag_http__body *b);

/*
 * Take body bytes from p[0..n): *used is set to how many belong to the body (the rest, when the
 * body ends inside p, is not part of this answer). Body bytes go to rs->body (the first
 * AG_HTTP_BODY_KEEP) and rs->body_total. Returns 1 when the body is complete, 0 when more is
 * needed (always, for AG_HTTP__CLOSE: its end is the connection's), or AG_HTTP_E_PROTOCOL with
 * rs->detail on a malformed chunk.
 */
int ag_http__body_feed(struct ag_http__body *b, const char *p, size_t n, size_t *used,
                       struct ag_http_response *rs);

#endif
