/*
 * conn.h - inside the HTTP server (not for other modules): the server's state, and its
 * connections: who is connected, their read deadlines, their pool charges, lingering closes.
 *
 * Every connection libmicrohttpd opens gets a struct rx_conn (its socket context) from
 * rx_http__conn_open until rx_http__conn_close. The keeper thread closes connections whose
 * deadline passed (shutdown(2) of the socket, which libmicrohttpd sees as the client leaving)
 * and reads and drops what arrives on sockets closed lingeringly until they end or their time
 * is up. h->mu guards the list of connections and the lingering sockets; a connection's fd is
 * valid while it is on the list (rx_http__conn_close takes it off before libmicrohttpd closes
 * the fd).
 */
#ifndef RX_HTTP_CONN_H
#define RX_HTTP_CONN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <microhttpd.h>

#include "receiver/http/route.h"
#include "receiver/http/server.h"

#define RX_HTTP_LINGER_MAX 256 /* sockets closed lingeringly at once; past it: closed at once */

enum rx_phase {
    RX_PHASE_NONE = 0, /* answering, suspended: libmicrohttpd's idle timeout only */
    RX_PHASE_HEADERS,  /* reading a request line and headers */
    RX_PHASE_BODY,     /* reading a body */
};

struct rx_conn {
    struct rx_http *h;
    int fd;
    atomic_int_fast64_t deadline; /* monotonic ms by which the phase must end; 0 none, -1 shut */
    atomic_int phase;             /* enum rx_phase */
    int64_t pool;                 /* bytes of the pool charged: 0 until the first request */
    int linger;                   /* an answer went out before the body: close lingeringly */
    int close;                    /* the body cannot be delimited: answer Connection: close */
    /* the request being read (libmicrohttpd serves a connection's requests one at a time) */
    enum rx_route_kind kind;
    void *req;          /* the send handler's, while it has the request */
    int status;         /* a refusal to answer once the body is read; -1: answered */
    const char *why;    /* static */
    uint64_t received;  /* body bytes read */
    uint64_t drain_max; /* a refused body is dropped up to this many bytes, then closed */
    struct rx_conn *prev, *next;
};

struct rx_linger {
    int fd;
    int64_t until;
};

struct rx_http {
    const struct rx_conf *c;
    struct rx_core *core;
    struct rx_metrics *m;
    struct rx_api *api; /* NULL: no lake */
    const struct rx_http_handler *send;
    void *send_ctx;
    unsigned flags;
    struct MHD_Daemon *d;
    char *tls_key, *tls_cert;
    atomic_int closing;
    pthread_mutex_t adopt_mu; /* rx_http_adopt against rx_http_stop */
    atomic_int admitted;      /* RX_HTTP_NO_LISTEN: connections handed over, not closed yet */

    pthread_mutex_t mu;
    struct rx_conn *conns;                       /* mu */
    struct rx_linger linger[RX_HTTP_LINGER_MAX]; /* mu */
    int nlinger;                                 /* mu */
    pthread_t keeper;
    int keeper_running;
    atomic_int keeper_stop;
};

/* Start and stop the keeper thread. Returns 0 or -errno. */
int rx_http__keeper_start(struct rx_http *h);
/* Stop it and close the lingering sockets. */
void rx_http__keeper_stop(struct rx_http *h);

/*
 * A connection opened (libmicrohttpd's NOTIFY_CONNECTION STARTED): its context, with the header
 * deadline running; NULL when out of memory (the connection is then refused its requests).
 */
struct rx_conn *rx_http__conn_open(struct rx_http *h, struct MHD_Connection *conn);
/*
 * The connection ends (NOTIFY_CONNECTION CLOSED, before libmicrohttpd closes the fd): off the
 * list, its pool uncharged; when its client may still be sending (c->linger, or bytes unread),
 * the socket is kept open (a duplicate of the fd) and closed lingeringly. Frees c; NULL ok.
 */
void rx_http__conn_close(struct rx_http *h, struct rx_conn *c);

/* Start the deadline of phase ms from now (RX_PHASE_NONE: no deadline). */
void rx_http__deadline(struct rx_conn *c, enum rx_phase phase, int64_t ms);

/* The context of a connection (NULL when rx_http__conn_open failed). */
struct rx_conn *rx_http__conn(struct MHD_Connection *conn);

#endif
