/*
 * http_client.h - a small HTTP/1.1 client: one keep-alive connection to one host:port, plain TCP
 * or TLS (mbedTLS), one request at a time. It is what the Event Hubs transport (https.c) puts on
 * the wire, and no more: no redirects, no proxies, no compression, no pipelining.
 *
 * A request is sent whole (request line, Host, the caller's header lines, Content-Length, body)
 * and the answer is read whole: the status, the few headers a sender acts on (Retry-After,
 * retry-after-ms, x-ms-retry-after-ms, Connection: close) and the first AG_HTTP_BODY_KEEP bytes
 * of the body (for error messages); the rest of the body is read and dropped. Bodies framed by
 * Content-Length, by chunked transfer-coding, or by the end of the connection are understood.
 *
 * Connections: the connection is kept between requests and made again when the server closed
 * it (or anything else made it unusable). When a request fails on a reused connection before a
 * single byte of the answer arrived (the server closed an idle connection as the request was
 * leaving), it is sent once more on a fresh connection; in every other case a failed request is
 * reported and never sent again by this client.
 *
 * TLS: TLS 1.2 or later, the peer's certificate is always verified: against ca_file, or the
 * system's CA bundle (the first of a short list of common paths that exists). The host name is
 * sent as SNI and checked against the certificate (subjectAltName dNSName, wildcards, or CN);
 * an IP address is checked against the certificate's subjectAltName iPAddress entries.
 *
 * Memory: ag_http_new allocates the handle (with its 8 KiB answer buffer); the first TLS
 * connection parses the CA bundle and allocates mbedTLS's record buffers (about 16 KiB each way),
 * kept until ag_http_free. Steady-state requests allocate nothing.
 *
 * Threads: a handle is used by one thread at a time.
 */
#ifndef AG_HTTP_CLIENT_H
#define AG_HTTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Why a request got no complete answer: negative project codes in a range of their own (they
 * classify a failed exchange; ag_http_strerror names them). rs->detail says more.
 */
enum ag_http_err {
    AG_HTTP_E_BASE = -31000,
    AG_HTTP_E_RESOLVE = AG_HTTP_E_BASE - 1,    /* the host name does not resolve */
    AG_HTTP_E_REFUSED = AG_HTTP_E_BASE - 2,    /* every address refused the connection */
    AG_HTTP_E_CONNECT = AG_HTTP_E_BASE - 3,    /* no connection for another reason (detail) */
    AG_HTTP_E_TIMEOUT = AG_HTTP_E_BASE - 4,    /* connect_timeout or timeout ran out */
    AG_HTTP_E_TLS_CA = AG_HTTP_E_BASE - 5,     /* the CA bundle cannot be read */
    AG_HTTP_E_TLS_VERIFY = AG_HTTP_E_BASE - 6, /* the peer's certificate failed verification */
    AG_HTTP_E_TLS = AG_HTTP_E_BASE - 7,        /* the TLS handshake failed otherwise */
    AG_HTTP_E_DROPPED = AG_HTTP_E_BASE - 8,    /* the connection closed or broke mid-exchange */
    AG_HTTP_E_PROTOCOL = AG_HTTP_E_BASE - 9,   /* the answer is not HTTP/1.x we understand */
    AG_HTTP_E_NOMEM = AG_HTTP_E_BASE - 10,     /* out of memory */
    AG_HTTP_E_LAST = AG_HTTP_E_BASE - 11
};

/* Where to connect. Strings are copied by ag_http_new. */
struct ag_http_opts {
    const char *host;           /* DNS name, IPv4, or IPv6 (bracketed "[::1]" or not) */
    int port;                   /* 1..65535 */
    int tls;                    /* 1: TLS, 0: plain TCP */
    const char *ca_file;        /* PEM CA bundle; NULL: the system's */
    int64_t connect_timeout_ms; /* TCP connect and TLS handshake, at most */
    int64_t timeout_ms;         /* a whole request (connecting included), at most */
};

/* One request. Nothing is copied: the strings must live until ag_http_request returns. */
struct ag_http_request {
    const char *method;  /* "POST" */
    const char *target;  /* origin-form: "/hub/messages?timeout=60" */
    const char *headers; /* more header lines, each ending "\r\n"; NULL for none. Not Host,
                            Content-Length, Transfer-Encoding or Connection: the client adds
                            Host and Content-Length */
    size_t headers_len;
    const void *body;
    size_t body_len;
};

#define AG_HTTP_BODY_KEEP  512 /* body bytes kept for messages */
#define AG_HTTP_DETAIL_MAX 200
#define AG_HTTP_HDR_MAX    64 /* a kept header value, NUL included (longer ones are cut) */

/* The answer, or why there is none. Filled by ag_http_request; owned by the caller. */
struct ag_http_response {
    int status;                           /* 100..999; 0 when there was no (whole) answer */
    int conn_close;                       /* the connection was closed after the answer */
    char retry_after[AG_HTTP_HDR_MAX];    /* Retry-After as sent, "" when absent */
    char retry_after_ms[AG_HTTP_HDR_MAX]; /* retry-after-ms or x-ms-retry-after-ms (the
                                             last one sent), "" when absent */
    uint64_t body_total;                  /* body bytes received */
    size_t body_len;                      /* bytes kept in body: min(body_total, KEEP) */
    char body[AG_HTTP_BODY_KEEP + 1];     /* the first body bytes, NUL-terminated */
    char detail[AG_HTTP_DETAIL_MAX];      /* on failure: what went wrong, one line */
};

struct ag_http;

/*
 * A handle for requests to o->host:o->port. No connection is made yet. Returns NULL when out of
 * memory or when o is unusable (no host, a bad port, non-positive timeouts). Free with
 * ag_http_free.
 */
struct ag_http *ag_http_new(const struct ag_http_opts *o);

/* Close the connection (with a TLS close_notify when one is up) and free h; accepts NULL. */
void ag_http_free(struct ag_http *h);

/*
 * Send rq and read the answer into *rs (rs is reset first). Returns 0 when a whole answer was
 * read (rs->status set, whatever it is), else an AG_HTTP_E_* code with rs->detail filled and
 * rs->status 0. See the top of this file for when a request is sent a second time.
 */
int ag_http_request(struct ag_http *h, const struct ag_http_request *rq,
                    struct ag_http_response *rs);

/* Close the kept connection (the next request makes a new one); accepts NULL. */
void ag_http_disconnect(struct ag_http *h);

/* Connections made so far by h (tests and diagnostics). */
uint64_t ag_http_connects(const struct ag_http *h);

/* Name of an AG_HTTP_E_* code (others: hc_strerror). Static. */
const char *ag_http_strerror(int err);

#endif
