/*
 * amqp_int.h - what the AMQP front end's files share (amqp.c: listeners and loops; conn.c: a
 * connection and its links; ingest.c: deliveries to the core and back; node.c: $cbs and
 * $management). Not for use outside receiver/amqp/.
 *
 * Threads: everything of a connection (its proton objects, links, tokens, deliveries) belongs
 * to the loop thread that accepted it. The core's done callback runs on a partition's writer
 * thread: it only queues the delivery on its loop (mu) and wakes it (efd). Counters are atomics.
 */
#ifndef RX_AMQP_INT_H
#define RX_AMQP_INT_H

#include <proton/connection_driver.h>
#include <proton/message.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/buf.h"
#include "receiver/amqp/wire.h"
#include "receiver/amqp/message.h"
#include "receiver/conf.h"
#include "receiver/core/core.h"
#include "receiver/metrics.h"

#define RX_AMQP_CREDIT    300        /* unsettled deliveries a sender link may have */
#define RX_AMQP_TICK_MS   250        /* timers: idle, token expiry */
#define RX_AMQP_READS     16         /* socket reads per wake-up (fairness between connections) */
#define RX_AMQP_CAPACITY  (8u << 20) /* a session's incoming bytes held by proton */
#define RX_AMQP_REFUSING  64         /* connections past the limit told so at once, at most */
#define RX_AMQP_REFUSE_MS 5000       /* how long such a connection may take to hear it */

enum rx_amqp_ctr {
    RX_AC_CONN_ACCEPTED,
    RX_AC_CONN_LIMIT, /* closed at once: connection_limit */
    RX_AC_DLV_ACCEPTED,
    RX_AC_DLV_BUSY,     /* rejected com.microsoft:server-busy */
    RX_AC_DLV_TOOBIG,   /* rejected amqp:link:message-size-exceeded */
    RX_AC_DLV_DECODE,   /* rejected amqp:decode-error */
    RX_AC_DLV_LOST,     /* the link or connection ended before the events were on disk */
    RX_AC_LINK_EXPIRED, /* detached: the token expired */
    RX_AC_LINK_UNAUTH,  /* refused: no token */
    RX_AC_LINK_NOTFOUND,
    RX_AC_LINK_OTHER, /* refused: not implemented, bad address */
    RX_AC_CBS_200,
    RX_AC_CBS_401,
    RX_AC_CBS_404,
    RX_AC_CBS_400,
    RX_AC_MGMT_200,
    RX_AC_MGMT_401,
    RX_AC_MGMT_404,
    RX_AC_MGMT_400,
    RX_AC_DECODE_ERRORS, /* connections closed for a malformed frame */
    RX_AC_IDLE_CLOSED,   /* connections closed: silent for idle_timeout */
    RX_AC_EVENTS,        /* events accepted */
    RX_AC_EVENTS_OUT,    /* events delivered to consumers (consumer.c) */
    RX_AC_BYTES_OUT,     /* their body bytes */
    RX_AC_N
};

struct rx_amqp_loop;
struct rx_amqp_conn;

/* Listeners: AMQP, AMQP over TLS, or AMQP and HTTP on one port (shared.c). */
enum rx_amqp_lsock { RX_L_PLAIN, RX_L_TLS, RX_L_SHARED };
#define RX_AMQP_LISTENERS 3

struct rx_rest;

/* The front end. */
struct rx_amqp {
    const struct rx_conf *c;
    struct rx_core *core;
    struct rx_metrics *m;
    int lfd[RX_AMQP_LISTENERS], lport[RX_AMQP_LISTENERS], nl;
    enum rx_amqp_lsock lkind[RX_AMQP_LISTENERS];
    struct rx_rest *rest; /* the REST front end on the shared port, or NULL */
    int lake;             /* the JSON API and the dashboard answer (for the banner) */
    SSL_CTX *ssl;         /* the TLS listener's (ours: proton's TLS would hide the bytes, wire.h) */
    struct rx_amqp_loop *loops;
    int nloops;
    atomic_int nconns;
    atomic_int nrefusing; /* past connection_limit: being told so (RX_AMQP_REFUSING at most) */
    atomic_int nsniff;    /* shared-port connections not handed over yet */
    atomic_int nlinks;
    atomic_int stopping;
    atomic_int pending; /* deliveries the core holds, over every loop */
    atomic_uint_fast64_t ctr[RX_AC_N];
    pthread_mutex_t cmu;            /* consumers (consumer.c: epochs, the five-reader limit) */
    struct rx_amqp_link *consumers; /* cmu: every consumer link, over every loop */
    struct rx_amqp_cstat *cstat;    /* consumer.c: per hub, partition and group */
    size_t *cstat_at;               /* where each hub's start in cstat */
};

/* What consumers of one partition and consumer group were sent (consumer.c). */
struct rx_amqp_cstat {
    atomic_uint_fast64_t events, bytes;
};

/* What an epoll event's data.ptr points at. */
enum rx_amqp_fdkind { RX_FD_LISTEN, RX_FD_WAKE, RX_FD_CONN, RX_FD_SNIFF };
struct rx_amqp_fd {
    enum rx_amqp_fdkind kind;
    int idx; /* RX_FD_LISTEN: the listener */
};

struct rx_amqp_dlv;

struct rx_amqp_sniff;

struct rx_amqp_loop {
    struct rx_amqp_fd wake_fd, listen_fd[RX_AMQP_LISTENERS];
    struct rx_amqp_sniff *sniffs; /* shared-port connections whose protocol is not known yet */
    struct rx_amqp_conn *grave;   /* ended connections, freed after the events in hand */
    struct rx_amqp *a;
    pthread_t th;
    int started;
    int epfd, efd;
    pthread_mutex_t mu;
    struct rx_amqp_dlv *done; /* mu: completions to settle */
    int dead;                 /* mu: the thread is gone; completions are released inline */
    struct rx_amqp_conn *conns;
    int listening;
};

/* A delivery of a sender link, from its last transfer until the core is done with it. */
struct rx_amqp_dlv {
    struct rx_amqp_dlv *next;          /* the loop's done list */
    struct rx_amqp_dlv *cprev, *cnext; /* the connection's pending list */
    struct rx_amqp_conn *conn;
    pn_delivery_t *dl; /* NULL once the connection is gone */
    struct hc_buf raw;
    struct rx_amqp_events ev;
    struct rx_send send;
    int64_t charged;
    int status;
};

/* A link of a connection (proton's pn_link_set_context). */
enum rx_amqp_lkind {
    RX_LK_EVENTS,   /* a producer's sender link: deliveries go to the core */
    RX_LK_CBS,      /* requests to $cbs */
    RX_LK_MGMT,     /* requests to $management */
    RX_LK_REPLY,    /* our sender to a client's receiver for replies */
    RX_LK_REFUSED,  /* refused or detached */
    RX_LK_CONSUMER, /* a consumer's receiver link: events from the log (consumer.c) */
};

struct rx_amqp_link {
    struct rx_amqp_link *next;
    pn_link_t *l;
    enum rx_amqp_lkind kind;
    int node_mgmt; /* RX_LK_REPLY: replies of $management (else $cbs) */
    int hub, partition;
    int64_t expiry_s;  /* RX_LK_EVENTS: when its token ends */
    struct hc_buf buf; /* the delivery being received (RX_LK_CONSUMER: being sent) */
    int too_big;
    struct rx_log_reader *reader;       /* RX_LK_CONSUMER */
    pn_message_t *msg;                  /* RX_LK_CONSUMER: reused for each event */
    struct rx_amqp_link *cnext, *cprev; /* a->consumers (under a->cmu) */
    struct rx_amqp_loop *cloop;         /* its loop, woken when it is stolen */
    int registered;                     /* in a->consumers */
    int64_t epoch;                      /* com.microsoft:epoch, -1 when none */
    int group;                          /* its consumer group (rx_conf_group_index) */
    int runtime_metric;                 /* asked for last_enqueued_* delivery annotations */
    atomic_int stolen;                  /* a higher epoch took the partition */
    struct rx_amqp *a;                  /* set once registered (for the close) */
};

/* A put-token the connection holds. */
struct rx_amqp_token {
    struct rx_amqp_token *next;
    char *name, *token;
    size_t name_len, token_len;
    int64_t expiry_s;
};

struct rx_amqp_conn {
    struct rx_amqp_fd fdh; /* first: epoll's data.ptr */
    struct rx_amqp_conn *next, *prev;
    struct rx_amqp_loop *l;
    int fd, tls;
    uint32_t armed; /* the epoll events asked for */
    pn_connection_driver_t d;
    int gone;     /* ended: socket closed, proton freed; waits for its pending deliveries */
    int stopping; /* the connection close is sent */
    int dirty;    /* settled deliveries: flush after the batch */
    int refusing; /* past connection_limit: closed with amqp:resource-limit-exceeded at once */
    int64_t refuse_until_ms;
    int bad;         /* a malformed frame came: closed with amqp:decode-error, nothing more read */
    int tail_closed; /* proton's input is closed (bad) */
    int eof;         /* the socket's input ended (or failed) */
    SSL *ssl;        /* TLS (ours), or NULL */
    int ssl_wants_write;          /* a read needs the socket writable (a handshake's answer) */
    int reread;                   /* TLS holds decrypted bytes proton had no room for: read again */
    struct rx_amqp_wire_in win;   /* checks what the client sends (wire.h) */
    struct rx_amqp_wire_out wout; /* pads what proton writes (wire.h) */
    struct hc_buf ob;             /* padded bytes to send, from ob_off */
    struct hc_buf rt_links;       /* consumer.c: names (NUL-ended) of links that asked for runtime
                                     metrics, until their attach is handled */
    size_t ob_off;
    uint64_t tag; /* delivery tags of our replies */
    char host[256];
    struct rx_amqp_link *links;
    struct rx_amqp_token *tokens;
    struct rx_amqp_dlv *pending; /* the core has them */
    size_t npending;
};

/* amqp.c: wake the loop (its eventfd): completions and re-reads are looked at. */
void rx_amqp__loop_wake(struct rx_amqp_loop *l);
/* amqp.c: the core's done callback (any thread): hands d to its loop. */
void rx_amqp__done(struct rx_send *s, int status);

/* conn.c */
struct rx_amqp_conn *rx_amqp__conn_new(struct rx_amqp_loop *l, int fd, int tls);
/*
 * A connection past connection_limit (or while stopping): accepted to be told why with an AMQP
 * close (amqp:resource-limit-exceeded) once it has sent its headers, then ended; at most
 * RX_AMQP_REFUSING at once (past that the socket is closed at once). Counted as refused either
 * way. Takes fd (closes it on failure).
 */
void rx_amqp__conn_refuse(struct rx_amqp_loop *l, int fd, int tls);
/* Socket readiness (EPOLLIN/EPOLLOUT/EPOLLERR bits); may end and free the connection. */
void rx_amqp__conn_io(struct rx_amqp_conn *c, uint32_t events);
/* Timers (idle timeout, token expiry); may end and free the connection. */
void rx_amqp__conn_tick(struct rx_amqp_conn *c, int64_t now_ms);
/* Stopping: close the connection once it holds no delivery (force: at once). */
void rx_amqp__conn_stop(struct rx_amqp_conn *c, int force);
/* Run proton's events and write; end the connection when proton is finished. */
void rx_amqp__conn_flush(struct rx_amqp_conn *c);
/* Tear down at loop exit (the thread is ending): close the socket, free what is not pending. */
void rx_amqp__conn_abandon(struct rx_amqp_conn *c);
/*
 * 1 while c's socket does not take what was written (its output waits in c->ob): consumers
 * encode no more events for it until it does (else a reader that stops reading would have the
 * whole partition buffered for it: proton's transport buffer has no bound of its own).
 */
int rx_amqp__conn_backed_up(const struct rx_amqp_conn *c);
/* Note d pending on c (submitted to the core). */
void rx_amqp__conn_pend(struct rx_amqp_conn *c, struct rx_amqp_dlv *d);
/* d left c; a gone c is freed (inline: at once, else after the loop's events in hand). */
void rx_amqp__conn_unpend(struct rx_amqp_conn *c, struct rx_amqp_dlv *d, int inline_free);
/* Free the connections of the loop's grave. */
void rx_amqp__conn_bury(struct rx_amqp_loop *l);

/* consumer.c: receiver links of consumers (hub/ConsumerGroups/cg/Partitions/N) */
struct rx_amqp_addr;
/* Attach lk (the client receives) at the selector filter's position, or refuse it. */
void rx_amqp__consumer_open(struct rx_amqp_conn *c, struct rx_amqp_link *lk,
                            const struct rx_amqp_addr *ad);
/* The link ended: close its reader. */
void rx_amqp__consumer_close(struct rx_amqp_link *lk);
/* The client gave credit on l. */
void rx_amqp__consumer_flow(struct rx_amqp_conn *c, pn_link_t *l);
/* Send what every consumer link of c may (on wake-ups and ticks). 1 when something was sent. */
int rx_amqp__consumers(struct rx_amqp_conn *c);
/*
 * wire.c's on_attach (ctx the connection): note the link name of an attach whose desired
 * capabilities ask for runtime metrics (rx_amqp__consumer_open takes it).
 */
void rx_amqp__consumer_attach_seen(void *ctx, const uint8_t *fields, size_t len);
/* Counters for /metrics (at start, before the loops): 0 or -ENOMEM; freed by _fini. */
int rx_amqp__consumer_init(struct rx_amqp *a);
void rx_amqp__consumer_fini(struct rx_amqp *a);
/* /metrics lines (rx_metrics_source_fn, ctx the front end): readers, events, bytes, lag. */
int rx_amqp__consumer_render(void *ctx, struct hc_buf *out);
/* conn.c: refuse (or detach) lk with condition and description, counted as k. */
void rx_amqp__link_refuse(struct rx_amqp_conn *c, struct rx_amqp_link *lk, const char *cond,
                          const char *desc, enum rx_amqp_ctr k);
/* shared.c: a connection accepted on the shared port, its first bytes awaited. */
void rx_amqp__sniff_new(struct rx_amqp_loop *l, int fd, const struct sockaddr *sa, socklen_t salen);
/* Its first bytes came: hand it to AMQP or HTTP (or wait for more). */
void rx_amqp__sniff_io(struct rx_amqp_sniff *s);
/* Close those that said nothing for header_timeout; retry those that sent part of "AMQP". */
void rx_amqp__sniff_tick(struct rx_amqp_loop *l, int64_t now_ms);
/* Close every one (loop exit). */
void rx_amqp__sniff_close_all(struct rx_amqp_loop *l);

/* ingest.c */
/* A complete delivery on a sender link (hub, partition): decode, submit or reject. */
void rx_amqp__ingest(struct rx_amqp_conn *c, pn_delivery_t *dl, struct hc_buf *raw, int hub,
                     int partition, int too_big);
/* On the loop thread: settle a delivery the core finished (marks its connection dirty). */
void rx_amqp__settle(struct rx_amqp_dlv *d);
/* Free a delivery's memory and give its bytes back to the budget. */
void rx_amqp__dlv_free(struct rx_amqp *a, struct rx_amqp_dlv *d);
/* Reject dl (and settle it) with condition and description. */
void rx_amqp__reject(pn_delivery_t *dl, const char *condition, const char *desc);

/* node.c: a complete request on $cbs or $management (mgmt 1). */
void rx_amqp__node_request(struct rx_amqp_conn *c, pn_link_t *l, pn_delivery_t *dl,
                           const struct hc_buf *raw, int mgmt);

/* conn.c: tokens and links, for node.c */
/* Store a verified put-token (name = audience, token text) with its expiry. Returns 0/-ENOMEM. */
int rx_amqp__conn_put_token(struct rx_amqp_conn *c, const char *name, size_t name_len,
                            const char *token, size_t token_len, int64_t expiry_s);
/*
 * The expiry of the best token on c giving right to hub (partition or -1), or 0 when none does.
 * Also true for a management request (right RX_RIGHT_SEND|RX_RIGHT_LISTEN: either).
 */
int64_t rx_amqp__conn_authorized(struct rx_amqp_conn *c, int hub, int partition, unsigned right);
/* The sender link (ours) for the reply to a request on link req (reply_to may be NULL). */
pn_link_t *rx_amqp__conn_reply_link(struct rx_amqp_conn *c, pn_link_t *req, const char *reply_to,
                                    size_t reply_len, int mgmt);

void rx_amqp__count(struct rx_amqp *a, enum rx_amqp_ctr k);

#endif
