/*
 * http_client.c - one keep-alive HTTP/1.1 connection over non-blocking TCP, optionally TLS
 * (mbedTLS), with poll() against one deadline per request. The answer's syntax is http_parse.c's.
 */
#include "agent/transport/https/http_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "agent/transport/https/http_parse.h"
#include "common/buf.h"
#include "common/error.h"
#include "common/hctime.h"

#define HTTP_IN_MAX 8192 /* the answer's head must fit; the body streams through it */

/* Where the system's CA bundle is, on the distributions we know, most likely first. */
static const char *const http_ca_paths[] = {
    "/etc/ssl/certs/ca-certificates.crt",                /* Debian, Ubuntu, Alpine, Arch */
    "/etc/pki/tls/certs/ca-bundle.crt",                  /* Fedora, RHEL */
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", /* RHEL 7+ */
    "/etc/ssl/ca-bundle.pem",                            /* openSUSE */
    "/etc/ssl/cert.pem",                                 /* Alpine, BSDs */
};

/* TLS state, made at the first TLS connection and kept (buffers included) across reconnects. */
struct http_tls {
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_x509_crt ca;
    mbedtls_ssl_config conf;
    mbedtls_ssl_context ssl;
    int used; /* ssl has seen a handshake: reset it before the next */
};

struct ag_http {
    char *host;     /* for getaddrinfo and SNI: without brackets */
    char *host_hdr; /* the Host header's value */
    char *ca_file;
    char port_str[8];
    int tls;
    int64_t connect_timeout_ms, timeout_ms;
    unsigned char ip[16]; /* host as an address (ip_len 4 or 16), else ip_len 0 */
    size_t ip_len;
    int fd;        /* the connection, -1 when none */
    int tls_up;    /* a TLS session is up on fd */
    int sys_errno; /* errno of the failed socket call behind an mbedTLS error */
    uint64_t connects;
    struct http_tls *t;
    struct hc_buf head; /* the request head, rebuilt in the same memory for each request */
    size_t in_len;
    char in[HTTP_IN_MAX];
};

static int64_t http_now_ms(void)
{
    return hc_mono_ns() / 1000000;
}

static void http_detail(struct ag_http_response *rs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void http_detail(struct ag_http_response *rs, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rs->detail, sizeof rs->detail, fmt, ap);
    va_end(ap);
}

/* "70 s", "0.5 s". */
static void http_secs(int64_t ms, char *out, size_t cap)
{
    if (ms % 1000 == 0)
        snprintf(out, cap, "%lld s", (long long)(ms / 1000));
    else
        snprintf(out, cap, "%.1f s", (double)ms / 1000.0);
}

/* ---- waiting ------------------------------------------------------------------------------ */

/* Wait until fd is ready for events. Returns 0, ETIMEDOUT at the deadline, or an errno. */
static int http_wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - http_now_ms();
        struct pollfd p = {.fd = fd, .events = events};
        int n;
        if (left <= 0)
            return ETIMEDOUT;
        n = poll(&p, 1, left > 60000 ? 60000 : (int)left);
        if (n > 0)
            return 0; /* ready, or an error/hang-up the next call will report */
        if (n < 0 && errno != EINTR)
            return errno;
    }
}

/* http_wait_fd on the connection, as a client code (the caller words a timeout). */
static int http_wait(struct ag_http *h, short events, int64_t deadline, struct ag_http_response *rs)
{
    int e = http_wait_fd(h->fd, events, deadline);
    if (!e)
        return 0;
    if (e == ETIMEDOUT)
        return AG_HTTP_E_TIMEOUT;
    http_detail(rs, "poll: %s", strerror(e));
    return AG_HTTP_E_DROPPED;
}

/* A socket call failed with e mid-exchange. */
static int http_sys_fail(struct ag_http_response *rs, int e)
{
    if (e == ENOMEM || e == ENOBUFS) {
        http_detail(rs, "out of memory");
        return AG_HTTP_E_NOMEM;
    }
    http_detail(rs, "%s", strerror(e));
    return AG_HTTP_E_DROPPED;
}

/* ---- plain and TLS I/O -------------------------------------------------------------------- */

static int http_bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    struct ag_http *h = ctx;
    ssize_t n = send(h->fd, buf, len, MSG_NOSIGNAL);
    if (n >= 0)
        return (int)n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return MBEDTLS_ERR_SSL_WANT_WRITE;
    h->sys_errno = errno;
    return errno == EPIPE || errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET
                                                 : MBEDTLS_ERR_NET_SEND_FAILED;
}

static int http_bio_recv(void *ctx, unsigned char *buf, size_t len)
{
    struct ag_http *h = ctx;
    ssize_t n = recv(h->fd, buf, len, 0);
    if (n >= 0)
        return (int)n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return MBEDTLS_ERR_SSL_WANT_READ;
    h->sys_errno = errno;
    return errno == ECONNRESET ? MBEDTLS_ERR_NET_CONN_RESET : MBEDTLS_ERR_NET_RECV_FAILED;
}

/* An mbedTLS error ret (not WANT_*) in the middle of an exchange. */
static int http_tls_fail(struct ag_http *h, int ret, struct ag_http_response *rs)
{
    char msg[128];
    if (ret == MBEDTLS_ERR_NET_CONN_RESET || ret == MBEDTLS_ERR_NET_SEND_FAILED ||
        ret == MBEDTLS_ERR_NET_RECV_FAILED)
        return http_sys_fail(rs, h->sys_errno ? h->sys_errno : ECONNRESET);
    if (ret == MBEDTLS_ERR_SSL_ALLOC_FAILED) {
        http_detail(rs, "out of memory");
        return AG_HTTP_E_NOMEM;
    }
    mbedtls_strerror(ret, msg, sizeof msg);
    http_detail(rs, "%s", msg);
    return AG_HTTP_E_DROPPED;
}

/* Wait for what an mbedTLS WANT_READ / WANT_WRITE asks. */
static int http_tls_wait(struct ag_http *h, int ret, int64_t deadline, struct ag_http_response *rs)
{
    return http_wait(h, ret == MBEDTLS_ERR_SSL_WANT_READ ? POLLIN : POLLOUT, deadline, rs);
}

static int http_tls_write(struct ag_http *h, const struct iovec *iov, int cnt, int64_t deadline,
                          struct ag_http_response *rs)
{
    for (int i = 0; i < cnt; i++) {
        const unsigned char *p = iov[i].iov_base;
        size_t left = iov[i].iov_len;
        while (left) {
            int ret = mbedtls_ssl_write(&h->t->ssl, p, left), rc;
            if (ret > 0) {
                p += ret;
                left -= (size_t)ret;
            } else if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE) {
                if ((rc = http_tls_wait(h, ret, deadline, rs)))
                    return rc;
            } else {
                return http_tls_fail(h, ret, rs);
            }
        }
    }
    return 0;
}

/* Drop the first n bytes of iov[0..*cnt): what a short write has sent. */
static struct iovec *http_iov_advance(struct iovec *iov, int *cnt, size_t n)
{
    while (*cnt && n >= iov->iov_len) {
        n -= iov->iov_len;
        iov++;
        (*cnt)--;
    }
    if (*cnt) {
        iov->iov_base = (char *)iov->iov_base + n;
        iov->iov_len -= n;
    }
    return iov;
}

/* Write all of iov[0..cnt) (iov is modified). Returns 0 or a client code. */
static int http_write(struct ag_http *h, struct iovec *iov, int cnt, int64_t deadline,
                      struct ag_http_response *rs)
{
    if (h->tls_up)
        return http_tls_write(h, iov, cnt, deadline, rs);
    while (cnt) {
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)cnt};
        ssize_t n = sendmsg(h->fd, &m, MSG_NOSIGNAL);
        int rc;
        if (n >= 0) {
            iov = http_iov_advance(iov, &cnt, (size_t)n);
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if ((rc = http_wait(h, POLLOUT, deadline, rs)))
                return rc;
        } else if (errno != EINTR) {
            return http_sys_fail(rs, errno);
        }
    }
    return 0;
}

/* Read what is there into h->in after in_len. Returns the bytes read, 0 at the end of the
 * connection, or a (negative) client code. */
static int http_read(struct ag_http *h, int64_t deadline, struct ag_http_response *rs)
{
    size_t cap = sizeof h->in - h->in_len;
    for (;;) {
        int rc;
        if (h->tls_up) {
            int ret = mbedtls_ssl_read(&h->t->ssl, (unsigned char *)h->in + h->in_len, cap);
            if (ret > 0) {
                h->in_len += (size_t)ret;
                return ret;
            }
            if (ret == 0 || ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY ||
                ret == MBEDTLS_ERR_SSL_CONN_EOF)
                return 0;
            if (ret != MBEDTLS_ERR_SSL_WANT_READ && ret != MBEDTLS_ERR_SSL_WANT_WRITE)
                return http_tls_fail(h, ret, rs);
            if ((rc = http_tls_wait(h, ret, deadline, rs)))
                return rc;
            continue;
        }
        ssize_t n = recv(h->fd, h->in + h->in_len, cap, 0);
        if (n >= 0) {
            h->in_len += (size_t)n;
            return (int)n;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if ((rc = http_wait(h, POLLIN, deadline, rs)))
                return rc;
        } else if (errno != EINTR) {
            return http_sys_fail(rs, errno);
        }
    }
}

/* ---- TLS setup ---------------------------------------------------------------------------- */

/* Depth 0 of the chain, when the host is an IP address: it must be one of the certificate's
 * subjectAltName iPAddress entries (mbedTLS 2.28 checks only names). */
static int http_verify_ip(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
    const struct ag_http *h = ctx;
    const mbedtls_x509_sequence *san;
    if (depth != 0 || !h->ip_len)
        return 0;
    for (san = &crt->subject_alt_names; san; san = san->next) {
        const mbedtls_x509_buf *b = &san->buf;
        if (b->tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_IP_ADDRESS) &&
            b->len == h->ip_len && memcmp(b->p, h->ip, h->ip_len) == 0)
            return 0;
    }
    *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
    return 0;
}

/* Parse ca_file, else the first system bundle with a certificate in it. */
static int http_load_ca(struct ag_http *h, mbedtls_x509_crt *ca, struct ag_http_response *rs)
{
    char msg[128];
    int ret;
    if (h->ca_file) {
        ret = mbedtls_x509_crt_parse_file(ca, h->ca_file);
        if (ret >= 0 && ca->raw.p)
            return 0;
        if (ret < 0)
            mbedtls_strerror(ret, msg, sizeof msg);
        else
            snprintf(msg, sizeof msg, "no certificate could be read from it");
        http_detail(rs, "%s", msg);
        return AG_HTTP_E_TLS_CA;
    }
    for (size_t i = 0; i < sizeof http_ca_paths / sizeof http_ca_paths[0]; i++) {
        if (access(http_ca_paths[i], R_OK) != 0)
            continue;
        ret = mbedtls_x509_crt_parse_file(ca, http_ca_paths[i]);
        if (ret >= 0 && ca->raw.p)
            return 0;
        mbedtls_x509_crt_free(ca);
        mbedtls_x509_crt_init(ca);
    }
    http_detail(rs, "no system CA bundle (looked for %s and others)", http_ca_paths[0]);
    return AG_HTTP_E_TLS_CA;
}

static void http_tls_free(struct http_tls *t)
{
    if (!t)
        return;
    mbedtls_ssl_free(&t->ssl);
    mbedtls_ssl_config_free(&t->conf);
    mbedtls_x509_crt_free(&t->ca);
    mbedtls_ctr_drbg_free(&t->drbg);
    mbedtls_entropy_free(&t->entropy);
    free(t);
}

/* The TLS configuration, the CA chain and the session's buffers, into h->t. */
static int http_tls_setup(struct ag_http *h, struct ag_http_response *rs)
{
    static const unsigned char pers[] = "hubcap-agent";
    struct http_tls *t = calloc(1, sizeof *t);
    int rc = AG_HTTP_E_TLS, ret;
    if (!t) {
        http_detail(rs, "out of memory");
        return AG_HTTP_E_NOMEM;
    }
    mbedtls_entropy_init(&t->entropy);
    mbedtls_ctr_drbg_init(&t->drbg);
    mbedtls_x509_crt_init(&t->ca);
    mbedtls_ssl_config_init(&t->conf);
    mbedtls_ssl_init(&t->ssl);
    if ((ret = mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func, &t->entropy, pers,
                                     sizeof pers - 1)))
        goto out_fail;
    if ((rc = http_load_ca(h, &t->ca, rs)))
        goto out_free;
    rc = AG_HTTP_E_TLS;
    if ((ret =
             mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_CLIENT,
                                         MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT)))
        goto out_fail;
    mbedtls_ssl_conf_authmode(&t->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&t->conf, &t->ca, NULL);
    mbedtls_ssl_conf_rng(&t->conf, mbedtls_ctr_drbg_random, &t->drbg);
    mbedtls_ssl_conf_min_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3); /* TLS 1.2 */
    if (h->ip_len)
        mbedtls_ssl_conf_verify(&t->conf, http_verify_ip, h);
    if ((ret = mbedtls_ssl_setup(&t->ssl, &t->conf)))
        goto out_fail;
    h->t = t;
    return 0;
out_fail:
    if (ret == MBEDTLS_ERR_SSL_ALLOC_FAILED || ret == MBEDTLS_ERR_X509_ALLOC_FAILED) {
        http_detail(rs, "out of memory");
        rc = AG_HTTP_E_NOMEM;
    } else {
        char msg[128];
        mbedtls_strerror(ret, msg, sizeof msg);
        http_detail(rs, "%s", msg);
    }
out_free:
    http_tls_free(t);
    return rc;
}

/* "The certificate is not correctly signed by the trusted CA; ..." for verify flags. */
static void http_verify_detail(uint32_t flags, struct ag_http_response *rs)
{
    char info[512], *line, *save = NULL;
    size_t n = 0;
    if (mbedtls_x509_crt_verify_info(info, sizeof info, "", flags) <= 0) {
        http_detail(rs, "verification failed (flags 0x%x)", (unsigned)flags);
        return;
    }
    rs->detail[0] = '\0';
    for (line = strtok_r(info, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        int k = snprintf(rs->detail + n, sizeof rs->detail - n, "%s%s", n ? "; " : "", line);
        if (k < 0 || (size_t)k >= sizeof rs->detail - n)
            break;
        n += (size_t)k;
    }
}

/* The TLS handshake on the new connection h->fd. */
static int http_tls_start(struct ag_http *h, int64_t deadline, struct ag_http_response *rs)
{
    int ret, rc;
    if (!h->t && (rc = http_tls_setup(h, rs)))
        return rc;
    if (h->t->used && (ret = mbedtls_ssl_session_reset(&h->t->ssl)))
        return http_tls_fail(h, ret, rs);
    h->t->used = 1;
    /* SNI and the name check; an address is not sent as SNI (RFC 6066), http_verify_ip checks */
    if ((ret = mbedtls_ssl_set_hostname(&h->t->ssl, h->ip_len ? NULL : h->host)))
        return http_tls_fail(h, ret, rs);
    mbedtls_ssl_set_bio(&h->t->ssl, h, http_bio_send, http_bio_recv, NULL);
    while ((ret = mbedtls_ssl_handshake(&h->t->ssl))) {
        if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE) {
            if ((rc = http_tls_wait(h, ret, deadline, rs)))
                return rc;
            continue;
        }
        if (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
            http_verify_detail(mbedtls_ssl_get_verify_result(&h->t->ssl), rs);
            return AG_HTTP_E_TLS_VERIFY;
        }
        rc = http_tls_fail(h, ret, rs);
        return rc == AG_HTTP_E_NOMEM ? rc : AG_HTTP_E_TLS;
    }
    h->tls_up = 1;
    return 0;
}

/* ---- connections -------------------------------------------------------------------------- */

/* Connect to one address before deadline: the socket, or -1 with *err set. */
static int http_connect_addr(const struct addrinfo *ai, int64_t deadline, int *err)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (fd < 0) {
        *err = errno;
        return -1;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS && errno != EINTR) {
        *err = errno;
        goto out_close;
    }
    if ((*err = http_wait_fd(fd, POLLOUT, deadline)))
        goto out_close;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr) {
        *err = soerr ? soerr : errno;
        goto out_close;
    }
    return fd;
out_close:
    close(fd);
    return -1;
}

static void http_sockopts(int fd)
{
    int one = 1, idle = 30, intvl = 15;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
}

/* Resolve host and connect to its addresses in turn, sharing the time left between them. */
static int http_tcp_open(struct ag_http *h, int64_t deadline, struct ag_http_response *rs)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
    int fd = -1, err = 0, refused = 0, timedout = 0, left = 0;
    int g = getaddrinfo(h->host, h->port_str, &hints, &res);
    if (g) {
        if (g == EAI_MEMORY) {
            http_detail(rs, "out of memory");
            return AG_HTTP_E_NOMEM;
        }
        http_detail(rs, "%s", g == EAI_SYSTEM ? strerror(errno) : gai_strerror(g));
        return AG_HTTP_E_RESOLVE;
    }
    for (ai = res; ai; ai = ai->ai_next)
        left++;
    for (ai = res; ai && fd < 0; ai = ai->ai_next, left--) {
        int64_t now = http_now_ms();
        fd = http_connect_addr(ai, now + (deadline - now) / left, &err);
        refused |= fd < 0 && err == ECONNREFUSED;
        timedout |= fd < 0 && err == ETIMEDOUT;
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        http_sockopts(fd);
        h->fd = fd;
        h->connects++;
        return 0;
    }
    if (timedout)
        return AG_HTTP_E_TIMEOUT;
    http_detail(rs, "%s", strerror(refused ? ECONNREFUSED : err));
    return refused ? AG_HTTP_E_REFUSED : AG_HTTP_E_CONNECT;
}

/* Close the connection; a TLS session is ended with close_notify when graceful. */
static void http_drop(struct ag_http *h, int graceful)
{
    if (h->fd < 0)
        return;
    if (graceful && h->tls_up)
        mbedtls_ssl_close_notify(&h->t->ssl); /* best effort: the socket does not block */
    close(h->fd);
    h->fd = -1;
    h->tls_up = 0;
}

/* A new connection (TCP, then TLS), within connect_timeout and the request's deadline. */
static int http_open(struct ag_http *h, int64_t deadline, struct ag_http_response *rs)
{
    int64_t cdl = http_now_ms() + h->connect_timeout_ms;
    char secs[32];
    int rc;
    if (cdl > deadline)
        cdl = deadline;
    rc = http_tcp_open(h, cdl, rs);
    if (!rc && h->tls && (rc = http_tls_start(h, cdl, rs)))
        http_drop(h, 0);
    if (rc == AG_HTTP_E_TIMEOUT) {
        int conn = cdl < deadline;
        http_secs(conn ? h->connect_timeout_ms : h->timeout_ms, secs, sizeof secs);
        http_detail(rs, "no %s within %s", conn ? "connection" : "answer", secs);
    }
    return rc;
}

/* 1 when the kept connection is idle and sound: nothing to read, no hang-up. A server that
 * closed it (or sent anything unasked) makes it unusable. */
static int http_idle_ok(struct ag_http *h)
{
    struct pollfd p = {.fd = h->fd, .events = POLLIN};
    if (h->tls_up && mbedtls_ssl_get_bytes_avail(&h->t->ssl))
        return 0;
    return poll(&p, 1, 0) == 0;
}

/* ---- one exchange ------------------------------------------------------------------------- */

static void http_response_reset(struct ag_http_response *rs)
{
    rs->status = 0;
    rs->conn_close = 0;
    rs->retry_after[0] = rs->retry_after_ms[0] = '\0';
    rs->body_total = 0;
    rs->body_len = 0;
    rs->body[0] = '\0';
    rs->detail[0] = '\0';
}

static int http_build_head(struct ag_http *h, const struct ag_http_request *rq)
{
    struct hc_buf *b = &h->head;
    hc_buf_reset(b);
    if (hc_buf_adds(b, rq->method) || hc_buf_addc(b, ' ') || hc_buf_adds(b, rq->target) ||
        hc_buf_adds(b, " HTTP/1.1\r\nHost: ") || hc_buf_adds(b, h->host_hdr) ||
        hc_buf_add(b, "\r\n", 2) || (rq->headers && hc_buf_add(b, rq->headers, rq->headers_len)) ||
        hc_buf_adds(b, "Content-Length: ") || hc_buf_add_i64(b, (int64_t)rq->body_len) ||
        hc_buf_add(b, "\r\n\r\n", 4))
        return AG_HTTP_E_NOMEM;
    return 0;
}

/* Read the head of the final answer (interim 1xx answers are skipped) into rs and *b; *head is
 * its length in h->in. */
static int http_read_head(struct ag_http *h, int64_t deadline, struct ag_http_response *rs,
                          struct ag_http__body *b, size_t *head, int *answered)
{
    for (;;) {
        int n, rc;
        while (!(*head = ag_http__head_end(h->in, h->in_len))) {
            if (h->in_len == sizeof h->in) {
                http_detail(rs, "malformed answer: headers longer than %zu bytes", sizeof h->in);
                return AG_HTTP_E_PROTOCOL;
            }
            if ((n = http_read(h, deadline, rs)) < 0)
                return n;
            if (!n) {
                http_detail(rs, "%s",
                            h->in_len ? "closed in the middle of the answer"
                                      : "closed by the server");
                return AG_HTTP_E_DROPPED;
            }
            *answered = 1;
        }
        if ((rc = ag_http__head_parse(h->in, *head, rs, b)))
            return rc;
        if (rs->status >= 200)
            return 0;
        if (rs->status == 101) {
            http_detail(rs, "malformed answer: 101 Switching Protocols, not asked for");
            return AG_HTTP_E_PROTOCOL;
        }
        memmove(h->in, h->in + *head, h->in_len - *head); /* 100 Continue & co: skip */
        h->in_len -= *head;
        http_response_reset(rs);
    }
}

/* Read the answer to the request just sent. *answered becomes 1 at its first byte. */
static int http_read_answer(struct ag_http *h, int64_t deadline, struct ag_http_response *rs,
                            int *answered)
{
    struct ag_http__body b;
    size_t off, used;
    int rc, n;
    h->in_len = 0;
    if ((rc = http_read_head(h, deadline, rs, &b, &off, answered)))
        return rc;
    while ((rc = ag_http__body_feed(&b, h->in + off, h->in_len - off, &used, rs)) == 0) {
        h->in_len = off = 0; /* all of it was body: read on into the whole buffer */
        if ((n = http_read(h, deadline, rs)) < 0)
            return n;
        if (!n && b.framing == AG_HTTP__CLOSE) {
            rs->conn_close = 1;
            return 0;
        }
        if (!n) {
            http_detail(rs, "closed in the middle of the answer");
            return AG_HTTP_E_DROPPED;
        }
    }
    if (rc < 0)
        return rc;
    if (off + used < h->in_len)
        rs->conn_close = 1; /* bytes after the answer: nothing to trust on this connection */
    return 0;
}

/* Send rq on the open connection and read the answer. */
static int http_exchange(struct ag_http *h, const struct ag_http_request *rq, int64_t deadline,
                         struct ag_http_response *rs, int *answered)
{
    struct iovec iov[2] = {{h->head.p, h->head.len}, {(void *)rq->body, rq->body_len}};
    char wdetail[AG_HTTP_DETAIL_MAX];
    int wrc = http_write(h, iov, rq->body_len ? 2 : 1, deadline, rs), rc;
    if (wrc && (wrc != AG_HTTP_E_DROPPED || h->tls_up))
        return wrc;
    /* A plain server may answer (413, ...) and close before taking the whole body: read it. */
    memcpy(wdetail, rs->detail, sizeof wdetail);
    rc = http_read_answer(h, deadline, rs, answered);
    if (wrc && rc == 0) {
        rs->conn_close = 1;
    } else if (wrc && !*answered) {
        memcpy(rs->detail, wdetail, sizeof wdetail); /* the write's failure says more */
        rc = wrc;
    }
    return rc;
}

int ag_http_request(struct ag_http *h, const struct ag_http_request *rq,
                    struct ag_http_response *rs)
{
    int64_t deadline = http_now_ms() + h->timeout_ms;
    char secs[32];
    http_response_reset(rs);
    if (http_build_head(h, rq)) {
        http_detail(rs, "out of memory");
        return AG_HTTP_E_NOMEM;
    }
    for (int attempt = 0;; attempt++) {
        int reused = 0, answered = 0, rc;
        if (h->fd >= 0 && !http_idle_ok(h))
            http_drop(h, 0);
        if (h->fd >= 0)
            reused = 1;
        else if ((rc = http_open(h, deadline, rs)))
            return rc;
        rc = http_exchange(h, rq, deadline, rs, &answered);
        if (!rc) {
            if (rs->conn_close)
                http_drop(h, 0);
            return 0;
        }
        http_drop(h, 0);
        rs->status = 0;
        if (rc == AG_HTTP_E_DROPPED && reused && !answered && attempt == 0) {
            http_response_reset(rs); /* the server closed the idle connection: once more */
            continue;
        }
        if (rc == AG_HTTP_E_TIMEOUT) {
            http_secs(h->timeout_ms, secs, sizeof secs);
            http_detail(rs, "no answer within %s", secs);
        }
        return rc;
    }
}

/* ---- handle ------------------------------------------------------------------------------- */

/* host without brackets, the Host header, and the address form of host. */
static int http_set_host(struct ag_http *h, const char *host, int port)
{
    struct hc_buf hdr = HC_BUF_INIT;
    size_t n = strlen(host);
    int v6, dflt = port == (h->tls ? 443 : 80);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        host++;
        n -= 2;
    }
    v6 = memchr(host, ':', n) != NULL;
    if (!n || !(h->host = strndup(host, n)))
        return -1;
    if (inet_pton(AF_INET, h->host, h->ip) == 1)
        h->ip_len = 4;
    else if (inet_pton(AF_INET6, h->host, h->ip) == 1)
        h->ip_len = 16;
    if (hc_buf_addf(&hdr, "%s%s%s", v6 ? "[" : "", h->host, v6 ? "]" : "") ||
        (!dflt && hc_buf_addf(&hdr, ":%d", port))) {
        hc_buf_free(&hdr);
        return -1;
    }
    h->host_hdr = hdr.p; /* owned by h from here */
    snprintf(h->port_str, sizeof h->port_str, "%d", port);
    return 0;
}

struct ag_http *ag_http_new(const struct ag_http_opts *o)
{
    struct ag_http *h;
    if (!o || !o->host || o->port < 1 || o->port > 65535 || o->connect_timeout_ms <= 0 ||
        o->timeout_ms <= 0)
        return NULL;
    if (!(h = calloc(1, sizeof *h)))
        return NULL;
    h->fd = -1;
    h->tls = !!o->tls;
    h->connect_timeout_ms = o->connect_timeout_ms;
    h->timeout_ms = o->timeout_ms;
    if (http_set_host(h, o->host, o->port) || (o->ca_file && !(h->ca_file = strdup(o->ca_file)))) {
        ag_http_free(h);
        return NULL;
    }
    return h;
}

void ag_http_disconnect(struct ag_http *h)
{
    if (h)
        http_drop(h, 1);
}

void ag_http_free(struct ag_http *h)
{
    if (!h)
        return;
    http_drop(h, 1);
    http_tls_free(h->t);
    if (h->head.p)
        memset(h->head.p, 0, h->head.cap); /* it held the Authorization header */
    hc_buf_free(&h->head);
    free(h->host);
    free(h->host_hdr);
    free(h->ca_file);
    free(h);
}

uint64_t ag_http_connects(const struct ag_http *h)
{
    return h ? h->connects : 0;
}

const char *ag_http_strerror(int err)
{
    switch (err) {
    case AG_HTTP_E_RESOLVE:
        return "cannot resolve the host";
    case AG_HTTP_E_REFUSED:
        return "connection refused";
    case AG_HTTP_E_CONNECT:
        return "cannot connect";
    case AG_HTTP_E_TIMEOUT:
        return "timed out";
    case AG_HTTP_E_TLS_CA:
        return "cannot load the CA bundle";
    case AG_HTTP_E_TLS_VERIFY:
        return "certificate verify failed";
    case AG_HTTP_E_TLS:
        return "TLS handshake failed";
    case AG_HTTP_E_DROPPED:
        return "connection dropped";
    case AG_HTTP_E_PROTOCOL:
        return "malformed answer";
    case AG_HTTP_E_NOMEM:
        return "out of memory";
    default:
        return hc_strerror(err);
    }
}
