/* mqtt_conf.c - the [mqtt] settings (mqtt.h) as text to struct; no I/O. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/hctime.h"
#include "receiver/mqtt/mqtt.h"

static int bad(char *why, size_t cap, const char *key, const char *what)
{
    snprintf(why, cap, "[mqtt] %s: %s", key, what);
    return HC_E_INVAL;
}

/* mqtt[s]://host[:port][/] or [v6]:port */
static int parse_url(struct rx_mqtt_conf *m, const char *v, char *why, size_t cap)
{
    const char *h, *end, *colon;
    size_t hn;
    if (!strncasecmp(v, "mqtts://", 8)) {
        m->tls = 1;
        h = v + 8;
    } else if (!strncasecmp(v, "mqtt://", 7)) {
        m->tls = 0;
        h = v + 7;
    } else {
        return bad(why, cap, "url", "give mqtt://host[:port] or mqtts://host[:port] (TLS)");
    }
    end = h + strcspn(h, "/");
    if (*h == '[') {
        const char *close = memchr(h, ']', (size_t)(end - h));
        if (!close)
            return bad(why, cap, "url", "an IPv6 address needs its closing ]");
        colon = close + 1 < end && close[1] == ':' ? close + 1 : NULL;
        hn = (size_t)(close - h - 1);
        h++;
    } else {
        colon = memchr(h, ':', (size_t)(end - h));
        hn = (size_t)((colon ? colon : end) - h);
    }
    if (!hn || hn >= sizeof m->host)
        return bad(why, cap, "url", "no host");
    memcpy(m->host, h, hn);
    m->host[hn] = '\0';
    m->port = m->tls ? 8883 : 1883;
    if (colon) {
        char *e;
        long p = strtol(colon + 1, &e, 10);
        if (e != end || p < 1 || p > 65535)
            return bad(why, cap, "url", "a bad port");
        m->port = (int)p;
    }
    return 0;
}

static int copy(char *dst, size_t cap, const char *v, char *why, size_t wcap, const char *key)
{
    if (strlen(v) >= cap)
        return bad(why, wcap, key, "too long");
    strcpy(dst, v);
    return 0;
}

static int one(const struct rx_conf *c, struct rx_mqtt_conf *m, const char *k, const char *v,
               char *why, size_t cap)
{
    if (!strcmp(k, "url"))
        return parse_url(m, v, why, cap);
    if (!strcmp(k, "username"))
        return copy(m->username, sizeof m->username, v, why, cap, k);
    if (!strcmp(k, "password"))
        return copy(m->password, sizeof m->password, v, why, cap, k);
    if (!strcmp(k, "password_env")) {
        const char *e = getenv(v);
        if (!e)
            return bad(why, cap, k, "that environment variable is not set");
        return copy(m->password, sizeof m->password, e, why, cap, k);
    }
    if (!strcmp(k, "ca_file"))
        return copy(m->ca_file, sizeof m->ca_file, v, why, cap, k);
    if (!strcmp(k, "cert_file"))
        return copy(m->cert_file, sizeof m->cert_file, v, why, cap, k);
    if (!strcmp(k, "key_file"))
        return copy(m->key_file, sizeof m->key_file, v, why, cap, k);
    if (!strcmp(k, "client_id"))
        return copy(m->client_id, sizeof m->client_id, v, why, cap, k);
    if (!strcmp(k, "topic")) {
        if (!*v || strchr(v, '\n'))
            return bad(why, cap, k, "give a topic filter, e.g. devices/+/messages/events/#");
        return copy(m->topic, sizeof m->topic, v, why, cap, k);
    }
    if (!strcmp(k, "hub")) {
        if ((m->hub = rx_conf_hub_index(c, v, strlen(v))) < 0)
            return bad(why, cap, k, "no [hub] of that name");
        return 0;
    }
    if (!strcmp(k, "connections")) {
        char *e;
        long n = strtol(v, &e, 10);
        if (*e || n < 1 || n > RX_MQTT_MAX_CONNS)
            return bad(why, cap, k, "a number from 1 to 16");
        m->connections = (int)n;
        return 0;
    }
    if (!strcmp(k, "version")) {
        if (!strcmp(v, "5"))
            m->version = 5;
        else if (!strcmp(v, "3.1.1"))
            m->version = 4;
        else
            return bad(why, cap, k, "5 or 3.1.1");
        return 0;
    }
    if (!strcmp(k, "keepalive")) {
        if (hc_duration_parse(v, &m->keepalive_ms) || m->keepalive_ms < 1000 ||
            m->keepalive_ms > 3600 * 1000)
            return bad(why, cap, k, "a duration from 1s to 1h");
        return 0;
    }
    return bad(why, cap, k,
               "unknown key (known: url, ca_file, cert_file, key_file, username, password, "
               "password_env, client_id, topic, hub, connections, version, keepalive)");
}

int rx_mqtt_conf(const struct rx_conf *c, struct rx_mqtt_conf *m, char *why, size_t cap)
{
    int have_url = 0, rc;
    memset(m, 0, sizeof *m);
    snprintf(m->client_id, sizeof m->client_id, "hubcap-receiver-%.200s", c->ns);
    snprintf(m->topic, sizeof m->topic, "devices/+/messages/events/#");
    m->connections = 1;
    m->version = 5;
    m->keepalive_ms = 30 * 1000;
    for (int i = 0; i < c->nmqtt; i++) {
        if ((rc = one(c, m, c->mqtt[i].key, c->mqtt[i].value, why, cap)))
            return rc;
        have_url |= !strcmp(c->mqtt[i].key, "url");
    }
    if (!have_url)
        return 1;
    if (!m->cert_file[0] != !m->key_file[0])
        return bad(why, cap, m->cert_file[0] ? "cert_file" : "key_file",
                   "cert_file and key_file go together");
    if (!m->tls && (m->ca_file[0] || m->cert_file[0]))
        return bad(why, cap, m->ca_file[0] ? "ca_file" : "cert_file",
                   "TLS files need an mqtts:// url");
    if (m->connections > 1 && m->version != 5)
        return bad(why, cap, "connections", "more than one needs version 5 (shared subscription)");
    return 0;
}
