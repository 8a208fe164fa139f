/* mqtt_conf.c - the MQTT transport's settings (mqtt_conf.h): text to struct, no I/O. */
#include "agent/transport/mqtt/mqtt_conf.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "common/hctime.h"
#include "common/rng.h"
#include "common/uuid.h"

void ag_mqtt_conf_default(struct ag_mqtt_conf *c)
{
    memset(c, 0, sizeof *c);
    c->max_inflight = 250;
    c->events_per_message = 1;
    c->keepalive_ms = 60 * 1000;
    c->connect_timeout_ms = 10 * 1000;
    c->timeout_ms = 70 * 1000;
    c->token_ttl_ms = 60 * 60 * 1000;
    c->max_batch_bytes = 1024 * 1024;
}

static void wipe_free(char **p)
{
    if (*p) {
        volatile char *v = *p;
        for (size_t i = 0; v[i]; i++)
            v[i] = 0;
    }
    free(*p);
    *p = NULL;
}

/* Replace *slot with a copy of value ("" clears it). */
static int set_str(char **slot, const char *value, const char **why)
{
    char *copy = NULL;
    if (*value && !(copy = strdup(value))) {
        *why = "out of memory";
        return -ENOMEM;
    }
    wipe_free(slot);
    *slot = copy;
    return 0;
}

static int set_ms(int64_t *slot, const char *value, int64_t lo, int64_t hi, const char *bad,
                  const char **why)
{
    int64_t ms;
    if (hc_duration_parse(value, &ms) || ms < lo || ms > hi) {
        *why = bad;
        return HC_E_INVAL;
    }
    *slot = ms;
    return 0;
}

static int set_number(struct ag_mqtt_conf *c, const char *key, const char *value, const char **why)
{
    uint64_t u;
    char *end;
    if (!strcasecmp(key, "mqtt_version")) {
        if (!strcmp(value, "5") || !strcmp(value, "5.0"))
            c->version = AG_MQTT_VERSION_5;
        else if (!strcmp(value, "3.1.1") || !strcmp(value, "4"))
            c->version = AG_MQTT_VERSION_311;
        else {
            *why = "mqtt_version must be 3.1.1 or 5";
            return HC_E_INVAL;
        }
        return 0;
    }
    if (!strcasecmp(key, "max_inflight")) {
        u = strtoull(value, &end, 10);
        if (*end || !*value || u < 1 || u > 65535) {
            *why = "max_inflight must be a number from 1 to 65535";
            return HC_E_INVAL;
        }
        c->max_inflight = (unsigned)u;
        return 0;
    }
    if (!strcasecmp(key, "events_per_message")) {
        u = strtoull(value, &end, 10);
        if (*end || !*value || u < 1 || u > AG_MQTT_PACK_MAX) {
            *why = "events_per_message must be a number from 1 to 1000";
            return HC_E_INVAL;
        }
        c->events_per_message = (unsigned)u;
        return 0;
    }
    if (hc_size_parse(value, &u) || u < 1024 || u > 64u * 1024 * 1024) {
        *why = "max_batch_bytes must be a size from 1K to 64M";
        return HC_E_INVAL;
    }
    c->max_batch_bytes = u;
    return 0;
}

int ag_mqtt_conf_set(struct ag_mqtt_conf *c, const char *key, const char *value, const char **why)
{
    static const char *const strs[] = {"connection_string", "username", "password",  "client_id",
                                       "device_id",         "ca_file",  "cert_file", "key_file"};
    char **slots[] = {&c->connection_string, &c->username, &c->password,  &c->client_id,
                      &c->device_id,         &c->ca_file,  &c->cert_file, &c->key_file};
    const char *dummy;
    if (!why)
        why = &dummy;
    if (!key || !value) {
        *why = "a setting without a name or value";
        return HC_E_INVAL;
    }
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if (!strcasecmp(key, strs[i]))
            return set_str(slots[i], value, why);
    if (!strcasecmp(key, "mqtt_version") || !strcasecmp(key, "max_inflight") ||
        !strcasecmp(key, "max_batch_bytes") || !strcasecmp(key, "events_per_message"))
        return set_number(c, key, value, why);
    if (!strcasecmp(key, "keepalive"))
        return set_ms(&c->keepalive_ms, value, 1000, 18 * 3600 * 1000,
                      "keepalive must be a duration from 1s to 18h", why);
    if (!strcasecmp(key, "connect_timeout"))
        return set_ms(&c->connect_timeout_ms, value, 100, 10 * 60 * 1000,
                      "connect_timeout must be a duration from 100ms to 10m", why);
    if (!strcasecmp(key, "timeout"))
        return set_ms(&c->timeout_ms, value, 1000, 60 * 60 * 1000,
                      "timeout must be a duration from 1s to 1h", why);
    if (!strcasecmp(key, "token_ttl"))
        return set_ms(&c->token_ttl_ms, value, 2000, 365LL * 24 * 3600 * 1000,
                      "token_ttl must be a duration from 2s to 365d", why);
    if (!strcasecmp(key, "token_renew"))
        return set_ms(&c->token_renew_ms, value, 1000, 365LL * 24 * 3600 * 1000,
                      "token_renew must be a duration from 1s to 365d", why);
    if (!strcasecmp(key, "hub") || !strcasecmp(key, "tier"))
        return 0;
    *why = "mqtt: unknown setting (known: connection_string, username, password, client_id, "
           "device_id, ca_file, cert_file, key_file, mqtt_version, max_inflight, keepalive, "
           "connect_timeout, timeout, token_ttl, token_renew, max_batch_bytes, events_per_message)";
    return HC_E_NOTFOUND;
}

/* Copy s[0..n) into out (cap bytes, lower-cased when lower). HC_E_TOOBIG when it does not fit. */
static int copy_part(char *out, size_t cap, const char *s, size_t n, int lower)
{
    if (n >= cap)
        return HC_E_TOOBIG;
    for (size_t i = 0; i < n; i++)
        out[i] = lower ? (char)tolower((unsigned char)s[i]) : s[i];
    out[n] = '\0';
    return 0;
}

/* "host[:port]" or "[v6]:port" into c->host and c->port (0 when none). */
static int parse_hostport(struct ag_mqtt_conf *c, const char *s, size_t n, const char **why)
{
    const char *colon = NULL, *h = s;
    size_t hn = n;
    if (n && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close)
            goto bad;
        h = s + 1;
        hn = (size_t)(close - s) - 1;
        if (close + 1 < s + n) {
            if (close[1] != ':')
                goto bad;
            colon = close + 1;
        }
    } else if ((colon = memchr(s, ':', n))) {
        hn = (size_t)(colon - s);
    }
    if (!hn || copy_part(c->host, sizeof c->host, h, hn, 1))
        goto bad;
    c->port = 0;
    if (colon) {
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (end != s + n || p < 1 || p > 65535)
            goto bad;
        c->port = (int)p;
    }
    return 0;
bad:
    *why = "mqtt: a bad host or port in the connection string";
    return HC_E_PARSE;
}

/* mqtt://[user[:password]@]host[:port][/] */
static int parse_url(struct ag_mqtt_conf *c, const char *s, const char **why)
{
    const char *p = strstr(s, "://") + 3, *at, *end;
    int rc;
    c->tls = !strncasecmp(s, "mqtts://", 8);
    end = p + strcspn(p, "/?");
    at = memchr(p, '@', (size_t)(end - p));
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        size_t un = colon ? (size_t)(colon - p) : (size_t)(at - p);
        if (!c->username && !(c->username = strndup(p, un)))
            return -ENOMEM;
        if (colon && !c->password && !(c->password = strndup(colon + 1, (size_t)(at - colon - 1))))
            return -ENOMEM;
        p = at + 1;
    }
    if ((rc = parse_hostport(c, p, (size_t)(end - p), why)))
        return rc;
    if (!c->port)
        c->port = c->tls ? AG_MQTT_PORT_TLS : AG_MQTT_PORT_PLAIN;
    return 0;
}

/* The value of key in an IoT Hub connection string (a;b;c pairs), into out. 1 found, 0 not. */
static int cs_get(const char *s, const char *key, char *out, size_t cap, int *toolong)
{
    size_t kl = strlen(key);
    while (*s) {
        size_t n = strcspn(s, ";");
        while (n && (*s == ' ' || *s == '\t'))
            s++, n--;
        if (n > kl && !strncasecmp(s, key, kl) && s[kl] == '=') {
            if (copy_part(out, cap, s + kl + 1, n - kl - 1, 0))
                *toolong = 1;
            return 1;
        }
        s += n;
        if (*s == ';')
            s++;
    }
    return 0;
}

static int parse_iothub(struct ag_mqtt_conf *c, const char *s, const char **why)
{
    char host[AG_MQTT_HOST_MAX], dev[AG_MQTT_NAME_MAX], tok[2048];
    int toolong = 0, rc;
    c->iothub = c->tls = 1;
    if (!cs_get(s, "HostName", host, sizeof host, &toolong) || !host[0]) {
        *why = "mqtt: the connection string is neither mqtt://, mqtts:// nor an IoT Hub device "
               "string (HostName=…;DeviceId=…;SharedAccessKey=…)";
        return HC_E_PARSE;
    }
    if (!cs_get(s, "DeviceId", dev, sizeof dev, &toolong) || !dev[0]) {
        *why = "mqtt: an IoT Hub connection string needs DeviceId";
        return HC_E_INVAL;
    }
    if (toolong) {
        *why = "mqtt: a part of the connection string is too long";
        return HC_E_TOOBIG;
    }
    if ((rc = parse_hostport(c, host, strlen(host), why)))
        return rc;
    if (!c->port)
        c->port = AG_MQTT_PORT_TLS;
    snprintf(c->hub_host, sizeof c->hub_host, "%s", c->host);
    wipe_free(&c->device_id);
    if (!(c->device_id = strdup(dev)))
        return -ENOMEM;
    if (cs_get(s, "SharedAccessSignature", tok, sizeof tok, &toolong) && tok[0]) {
        if (toolong || !(c->token = strdup(tok)))
            return toolong ? HC_E_TOOBIG : -ENOMEM;
    } else if (!cs_get(s, "SharedAccessKey", c->key, sizeof c->key, &toolong) || !c->key[0] ||
               toolong) {
        *why = "mqtt: an IoT Hub connection string needs SharedAccessKey (the device's key) or "
               "SharedAccessSignature";
        return HC_E_INVAL;
    }
    if (c->version == AG_MQTT_VERSION_5) {
        *why = "mqtt: mqtt_version 5: IoT Hub speaks MQTT 3.1.1 only";
        return HC_E_INVAL;
    }
    c->version = AG_MQTT_VERSION_311;
    return 0;
}

/* Default client id: DEV, else device_id, else "hubcap-{uuid}". */
static int default_client_id(struct ag_mqtt_conf *c)
{
    char id[HC_UUID_STRLEN + 8];
    uint8_t u[16];
    struct hc_rng r;
    if (c->client_id && !c->iothub)
        return 0;
    if (c->device_id) {
        free(c->client_id);
        return (c->client_id = strdup(c->device_id)) ? 0 : -ENOMEM;
    }
    hc_rng_seed_random(&r);
    for (int i = 0; i < 16; i++)
        u[i] = (uint8_t)hc_rng_range(&r, 0, 255);
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
    memcpy(id, "hubcap-", 7);
    hc_uuid_format(u, id + 7);
    return (c->client_id = strdup(id)) ? 0 : -ENOMEM;
}

int ag_mqtt_conf_finish(struct ag_mqtt_conf *c, const char **why)
{
    const char *s = c->connection_string, *dummy;
    int v6, rc;
    if (!why)
        why = &dummy;
    if (!s) {
        *why = "no connection string: pass --connection-string (mqtt://host:port or an IoT Hub "
               "device string) or set HUBCAP_CONNECTION_STRING";
        return HC_E_INVAL;
    }
    if (!c->token_renew_ms)
        c->token_renew_ms = c->token_ttl_ms < 15 * 60 * 1000 ? c->token_ttl_ms / 3 : 5 * 60 * 1000;
    if (c->token_renew_ms >= c->token_ttl_ms) {
        *why = "token_renew must be shorter than token_ttl";
        return HC_E_INVAL;
    }
    if (!strncasecmp(s, "mqtt://", 7) || !strncasecmp(s, "mqtts://", 8))
        rc = parse_url(c, s, why);
    else
        rc = parse_iothub(c, s, why);
    if (rc)
        return rc == -ENOMEM ? (*why = "out of memory", rc) : rc;
    if (!c->version)
        c->version = AG_MQTT_VERSION_5;
    if (c->iothub && c->events_per_message > 1) {
        *why = "mqtt: events_per_message is for a broker (IoT Hub's form is one event a message)";
        return HC_E_INVAL;
    }
    if ((c->cert_file != NULL) != (c->key_file != NULL)) {
        *why = "mqtt: cert_file and key_file go together";
        return HC_E_INVAL;
    }
    if ((c->cert_file || c->ca_file) && !c->tls) {
        *why = "mqtt: ca_file, cert_file and key_file need TLS: use mqtts://";
        return HC_E_INVAL;
    }
    v6 = strchr(c->host, ':') != NULL;
    snprintf(c->uri, sizeof c->uri, "%s://%s%s%s:%d", c->tls ? "ssl" : "tcp", v6 ? "[" : "",
             c->host, v6 ? "]" : "", c->port);
    if ((rc = default_client_id(c))) {
        *why = "out of memory";
        return rc;
    }
    return 0;
}

void ag_mqtt_conf_free(struct ag_mqtt_conf *c)
{
    if (!c)
        return;
    wipe_free(&c->connection_string);
    wipe_free(&c->password);
    wipe_free(&c->token);
    free(c->username);
    free(c->client_id);
    free(c->device_id);
    free(c->ca_file);
    free(c->cert_file);
    free(c->key_file);
    c->username = c->client_id = c->device_id = c->ca_file = c->cert_file = c->key_file = NULL;
    memset(c->key, 0, sizeof c->key);
}
