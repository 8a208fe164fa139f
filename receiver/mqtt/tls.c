/*
 * tls.c - mqtts:// for the MQTT front end's connections (mqtt_int.h), on OpenSSL: one client
 * context per front end (TLS 1.2 or later, the broker's certificate verified against ca_file or
 * the system's CAs and the url's host, an optional client certificate), one session per
 * connection on its non-blocking socket. Reads and writes look like read(2) and send(2) to
 * session.c: bytes, 0 at the end, -1 with EAGAIN when the socket must be ready first.
 *
 * Errors: a file that does not load stops the start with its name and OpenSSL's reason; a
 * handshake that fails, or the broker's alert on the first reads (a TLS 1.3 server reports a
 * refused client certificate after the client's handshake is done), is logged once per attempt
 * with OpenSSL's reason, the certificate check's and what to check, and counted as a "tls"
 * connect error. An unexpected EOF is an EOF, as on TCP (MQTT's framing finds a cut packet).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/hctime.h"
#include "common/log.h"
#include "receiver/mqtt/mqtt_int.h"

/* The earliest queued OpenSSL error (usually the cause), as text; the queue emptied. */
static const char *ossl_reason(char *buf, size_t cap)
{
    unsigned long e = ERR_get_error(), more;
    while ((more = ERR_get_error()))
        (void)more;
    if (!e)
        return "no reason given";
    ERR_error_string_n(e, buf, cap);
    /* "error:0A000086:SSL routines::certificate verify failed": keep what follows "::" */
    const char *r = strstr(buf, "::");
    return r ? r + 2 : buf;
}

static int init_fail(char *why, size_t cap, const char *key, const char *file, const char *what)
{
    char r[256];
    snprintf(why, cap, "[mqtt] %s%s%s: %s (%s)", key, *file ? " " : "", file, what,
             ossl_reason(r, sizeof r));
    return -1;
}

int rx_mq__tls_init(struct mq_front *f, char *why, size_t cap)
{
    const struct rx_mqtt_conf *m = &f->conf;
    SSL_CTX *x;
    if (!m->tls)
        return 0;
    ERR_clear_error();
    if (!(x = SSL_CTX_new(TLS_client_method())))
        return init_fail(why, cap, "url", "", "cannot make a TLS context");
    f->ssl_ctx = x;
    SSL_CTX_set_min_proto_version(x, TLS1_2_VERSION);
    SSL_CTX_set_verify(x, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_mode(x, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_options(x, SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (m->ca_file[0] ? SSL_CTX_load_verify_locations(x, m->ca_file, NULL) != 1
                      : SSL_CTX_set_default_verify_paths(x) != 1)
        return init_fail(why, cap, "ca_file", m->ca_file[0] ? m->ca_file : "(the system's)",
                         "cannot load the CA certificates");
    if (m->cert_file[0]) {
        if (SSL_CTX_use_certificate_chain_file(x, m->cert_file) != 1)
            return init_fail(why, cap, "cert_file", m->cert_file,
                             "cannot load the client certificate (PEM)");
        if (SSL_CTX_use_PrivateKey_file(x, m->key_file, SSL_FILETYPE_PEM) != 1)
            return init_fail(why, cap, "key_file", m->key_file,
                             "cannot load it as the key of cert_file (PEM)");
        if (SSL_CTX_check_private_key(x) != 1)
            return init_fail(why, cap, "key_file", m->key_file, "not the key of cert_file");
    }
    return 0;
}

void rx_mq__tls_free(struct mq_front *f)
{
    SSL_CTX_free(f->ssl_ctx);
    f->ssl_ctx = NULL;
}

/* Log and count a TLS failure of c (OpenSSL's error queue and the certificate check). */
static void tls_failed(struct mq_conn *c, const char *when)
{
    const struct rx_mqtt_conf *m = &c->f->conf;
    char r[256];
    const char *reason = ossl_reason(r, sizeof r), *hint = "";
    long v = c->ssl ? SSL_get_verify_result(c->ssl) : X509_V_OK;
    if (v != X509_V_OK)
        hint = v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH
                   ? ": the url's host is not in the broker's certificate"
                   : ": check [mqtt] ca_file (the CA that signed the broker's certificate)";
    else if (strstr(reason, "alert") && strstr(reason, "certificate"))
        hint = ": the broker refused the client certificate (check [mqtt] cert_file, key_file)";
    atomic_fetch_add(&c->f->connect_errors[CE_TLS], 1);
    hc_error("mqtt: %s: TLS with %s:%d failed %s: %s%s%s%s", c->client_id, m->host, m->port, when,
             reason, v != X509_V_OK ? " (" : "",
             v != X509_V_OK ? X509_verify_cert_error_string(v) : "", v != X509_V_OK ? ")" : "");
    if (*hint)
        hc_error("mqtt: %s%s", c->client_id, hint);
}

int rx_mq__tls_handshake(struct mq_conn *c, int64_t deadline_ms)
{
    const struct rx_mqtt_conf *m = &c->f->conf;
    unsigned char a[16];
    ERR_clear_error();
    if (!(c->ssl = SSL_new(c->f->ssl_ctx)) || SSL_set_fd(c->ssl, c->fd) != 1) {
        tls_failed(c, "to start");
        return -1;
    }
    if (inet_pton(AF_INET, m->host, a) == 1 || inet_pton(AF_INET6, m->host, a) == 1) {
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), m->host) != 1) {
            tls_failed(c, "to start");
            return -1;
        }
    } else if (SSL_set_tlsext_host_name(c->ssl, m->host) != 1 ||
               SSL_set1_host(c->ssl, m->host) != 1) {
        tls_failed(c, "to start");
        return -1;
    }
    for (;;) {
        int r = SSL_connect(c->ssl), e;
        int64_t left;
        if (r == 1)
            return 0;
        e = SSL_get_error(c->ssl, r);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            if (e == SSL_ERROR_SYSCALL && !ERR_peek_error()) {
                atomic_fetch_add(&c->f->connect_errors[CE_TLS], 1);
                hc_error("mqtt: %s: TLS with %s:%d failed in the handshake: %s", c->client_id,
                         m->host, m->port,
                         errno ? strerror(errno) : "the broker closed the connection");
                return -1;
            }
            tls_failed(c, "in the handshake");
            return -1;
        }
        if ((left = deadline_ms - hc_mono_ns() / 1000000) <= 0) {
            atomic_fetch_add(&c->f->connect_errors[CE_TLS], 1);
            hc_error("mqtt: %s: no TLS handshake with %s:%d in %ds", c->client_id, m->host, m->port,
                     MQ_HANDSHAKE_MS / 1000);
            return -1;
        }
        struct pollfd pf = {.fd = c->fd, .events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT};
        if (poll(&pf, 1, (int)(left < 100 ? left : 100)) < 0 && errno != EINTR)
            return -1;
        if (atomic_load(&c->f->stop))
            return -1;
    }
}

/* errno for an SSL_read/SSL_write that returned r; logs a TLS error. -1 or 0 (EOF). */
static ssize_t io_error(struct mq_conn *c, int r, int reading)
{
    int e = SSL_get_error(c->ssl, r);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        c->tls_want_write = reading;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        if (reading)
            return 0;
        errno = EPIPE;
        return -1;
    case SSL_ERROR_SYSCALL:
        if (!ERR_peek_error()) {
            if (!errno)
                errno = EPIPE;
            return -1;
        }
        /* fall through */
    default:
        tls_failed(c, reading ? "reading" : "writing");
        errno = EPROTO;
        return -1;
    }
}

ssize_t rx_mq__io_read(struct mq_conn *c, void *p, size_t n)
{
    size_t got = 0;
    if (!c->ssl)
        return read(c->fd, p, n);
    c->tls_want_write = 0;
    ERR_clear_error();
    while (got < n) {
        size_t k = 0;
        int r = SSL_read_ex(c->ssl, (char *)p + got, n - got, &k);
        if (r != 1) {
            if (got)
                break; /* the condition comes again on the next read */
            return io_error(c, r, 1);
        }
        got += k;
    }
    return (ssize_t)got;
}

ssize_t rx_mq__io_write(struct mq_conn *c, const void *p, size_t n)
{
    size_t k = 0;
    int r;
    if (!c->ssl)
        return send(c->fd, p, n, MSG_NOSIGNAL);
    ERR_clear_error();
    if ((r = SSL_write_ex(c->ssl, p, n, &k)) != 1)
        return io_error(c, r, 0);
    return (ssize_t)k;
}

int rx_mq__io_pending(const struct mq_conn *c)
{
    return c->ssl && SSL_pending(c->ssl) > 0;
}

void rx_mq__tls_close(struct mq_conn *c, int notify)
{
    if (!c->ssl)
        return;
    if (notify)
        (void)SSL_shutdown(c->ssl); /* the close_notify if it goes at once; no wait */
    SSL_free(c->ssl);
    c->ssl = NULL;
    c->tls_want_write = 0;
    ERR_clear_error();
}
