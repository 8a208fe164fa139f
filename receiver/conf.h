/*
 * conf.h - the receiver's settings: development defaults, and the INI file of `serve -c`.
 *
 * Parsing only (no sockets, no files besides the INI itself): conf.c turns text into a
 * struct rx_conf; serve.c does the I/O.
 *
 *   [receiver]
 *   namespace        = hubcap            ; the Event Hubs namespace name (capture folder level 1)
 *   listen           = 0.0.0.0:8080      ; ADDR:PORT, [v6addr]:PORT; port 0 picks a free one
 *   host_name        = ns.servicebus.windows.net ; the host tokens must be signed for;
 *                                        ; default: the request's Host header (without port)
 *   tls_cert         = /path/cert.pem    ; with tls_key: HTTPS instead of HTTP
 *   tls_key          = /path/key.pem
 *   http_threads     = 2                 ; HTTP worker threads (default: the number of CPUs)
 *   max_publication  = 1M                ; largest request body (Event Hubs Standard: 1 MB)
 *   max_inflight     = 256M              ; request bytes held at once; past it: 503 + Retry-After
 *   connection_limit = 4096
 *   connection_timeout = 30s             ; an idle or stalled connection is closed after this
 *   header_timeout   = 10s               ; a request's line and headers must be in by then (from
 *                                        ; the connection's start, or its request line)
 *   body_timeout     = 60s               ; a request's body must be in this long after its headers
 *   log_level        = info
 *
 *   [capture]
 *   dir          = /var/lib/hubcap/capture
 *   window       = 5m                    ; a file is closed this long after it was opened ...
 *   window_bytes = 300M                  ; ... or once it is this big, whichever comes first
 *   skip_empty   = true                  ; false: write an empty file for a window with no event
 *   codec        = deflate               ; deflate | null
 *   index_dir    = /var/lib/hubcap/index ; the partition logs' index (derived from the files,
 *                                        ; rebuilt when deleted); default {dir}/.index
 *
 *   [hub events]                         ; one section per event hub
 *   partitions = 4
 *   retention  = 7d                      ; capture files older than this may be deleted once in
 *                                        ; bronze (with a lake) and read by every consumer;
 *                                        ; default 0: keep everything capture keeps
 *   consumer_groups = analytics, archive  ; the groups consumers may read in besides $Default
 *                                        ; (always there); 1 to 50 letters, digits, '.', '-',
 *                                        ; '_'; at most 19 (Event Hubs Standard: 20 in all)
 *
 *   [mqtt]                               ; subscribe to a broker (receiver/mqtt/mqtt.h: keys)
 *   url = mqtt://broker:1883             ; kept as text here, read by the MQTT front end
 *
 *   [rule RootManageSharedAccessKey]     ; one section per SAS policy
 *   key     = ...                        ; or key_env = NAME_OF_AN_ENVIRONMENT_VARIABLE
 *   rights  = manage                     ; any of send, listen, manage (manage implies send)
 *   hub     = events                     ; optional: a policy of that hub only
 *
 *   [amqp]                               ; the AMQP 1.0 front end (amqp/amqp.h); without this
 *                                        ; section a config file serves no AMQP
 *   listen           = 0.0.0.0:5672      ; plain AMQP, or off (default: off when TLS is set up;
 *                                        ; development mode: 127.0.0.1:5672, skipped with a
 *                                        ; warning when the port is taken)
 *   listen_tls       = 0.0.0.0:5671      ; AMQP over TLS (default when tls_cert is set), or off
 *   tls_cert         = /path/cert.pem    ; default: [receiver] tls_cert and tls_key
 *   tls_key          = /path/key.pem
 *   idle_timeout     = 60s               ; a connection silent this long is closed
 *   max_frame        = 64K               ; the largest frame taken (512 to 1M)
 *   connection_limit = 4096
 *   threads          = 2                 ; event loops (default: 2, at most the CPUs)
 *   shared           = false             ; true: AMQP also on [receiver] listen, next to HTTP
 *                                        ; (development mode: true)
 *                                        ; (one port and one connection string for both; not
 *                                        ; with [receiver] tls_cert)
 */
#ifndef RX_CONF_H
#define RX_CONF_H

#include <stddef.h>
#include <stdint.h>

#define RX_NAME_MAX        257 /* namespace, hub and rule names: up to 256 bytes */
#define RX_KEY_MAX         257
#define RX_PATH_MAX        1024
#define RX_MAX_HUBS        64
#define RX_MAX_RULES       64
#define RX_MAX_PARTITIONS  1024
#define RX_PUBLICATION_MAX (64u * 1024 * 1024)
#define RX_MQTT_KEYS       24 /* [mqtt] settings at most */
#define RX_MAX_GROUPS      20 /* consumer groups of a hub, $Default included */
#define RX_GROUP_MAX       51 /* a consumer group's name: up to 50 bytes */

#define RX_DEV_NAMESPACE "hubcap"
#define RX_DEV_HUB       "events"
#define RX_DEV_RULE      "RootManageSharedAccessKey"
#define RX_DEV_KEY       "SAS_KEY_VALUE" /* as the Azure Event Hubs emulator */
#define RX_DEV_KEY_ENV   "HUBCAP_DEV_KEY"

enum rx_codec { RX_CODEC_DEFLATE = 0, RX_CODEC_NULL = 1 };

enum rx_right { RX_RIGHT_SEND = 1, RX_RIGHT_LISTEN = 2, RX_RIGHT_MANAGE = 4 };

struct rx_hub_conf {
    char name[RX_NAME_MAX];
    int partitions;
    int64_t retention_ms; /* 0: keep everything */
    /* consumer groups besides $Default (group index 0): groups[i] is group i + 1 */
    char groups[RX_MAX_GROUPS - 1][RX_GROUP_MAX];
    int ngroups; /* declared ones, $Default not counted */
};

struct rx_rule_conf {
    char name[RX_NAME_MAX];
    char key[RX_KEY_MAX];
    unsigned rights;       /* enum rx_right bits */
    char hub[RX_NAME_MAX]; /* "" for a namespace-wide policy */
};

/* [amqp] (--amqp ADDR:PORT|off sets listen). port -1: that listener is off. */
struct rx_amqp_conf {
    char listen_addr[64];
    int port;
    int port_given; /* listen came from the file or --amqp: a taken port is an error */
    int section;    /* the file has [amqp] */
    char tls_addr[64];
    int tls_port;
    int tls_set; /* listen_tls was given (off stays off) */
    char tls_cert[RX_PATH_MAX];
    char tls_key[RX_PATH_MAX];
    int64_t idle_timeout_ms;
    uint32_t max_frame;
    int connection_limit;
    int threads;
    int shared; /* AMQP also on [receiver] listen, next to HTTP (plain only) */
};

struct rx_conf {
    char ns[RX_NAME_MAX];
    char listen_addr[64]; /* numeric address, without brackets */
    int port;
    char host_name[256];
    char tls_cert[RX_PATH_MAX];
    char tls_key[RX_PATH_MAX];
    int http_threads;
    uint64_t max_publication;
    uint64_t max_inflight;
    int connection_limit;
    int64_t connection_timeout_ms;
    int64_t header_timeout_ms; /* a request's headers must be in by then (slow clients) */
    int64_t body_timeout_ms;   /* and its body this long after them */
    char log_level[8];

    char capture_dir[RX_PATH_MAX];
    char index_dir[RX_PATH_MAX]; /* "" = {capture_dir}/.index */
    int64_t window_ms;
    uint64_t window_bytes;
    int skip_empty;
    enum rx_codec codec;

    int lake;      /* land and promote continuously ([lake] or --pg) */
    char pg[1024]; /* libpq conninfo; "" = the PG* environment */
    int64_t lake_interval_ms;

    struct rx_hub_conf hubs[RX_MAX_HUBS];
    int nhubs;
    struct rx_rule_conf rules[RX_MAX_RULES];
    int nrules;

    struct rx_amqp_conf amqp;

    /* [mqtt] and `serve --mqtt URL` (key "url"), as written: receiver/mqtt/ parses them */
    struct rx_conf_kv {
        char key[32];
        char value[RX_PATH_MAX];
    } mqtt[RX_MQTT_KEYS];
    int nmqtt;

    int dev;       /* development mode: no config file */
    char err[512]; /* why the last call failed, for the user */
};

/*
 * Development defaults: loopback 127.0.0.1:8080 (HTTP and AMQP on that port), AMQP also on
 * 127.0.0.1:5672, namespace "hubcap", hub "events" with 4
 * partitions, rule RootManageSharedAccessKey (all rights) with key $HUBCAP_DEV_KEY or
 * "SAS_KEY_VALUE", capture into ./capture. Sets c->dev.
 */
void rx_conf_dev(struct rx_conf *c);

/*
 * Defaults for a config file (no hubs, no rules, listen 0.0.0.0:8080), then the file at path.
 * Returns 0, or HC_E_PARSE / HC_E_INVAL / -errno with c->err naming the file, line and problem.
 */
int rx_conf_load(struct rx_conf *c, const char *path);

/*
 * Parse "ADDR:PORT", "[V6ADDR]:PORT" or "PORT" into c->listen_addr and c->port. Returns 0 or
 * HC_E_PARSE (c unchanged). The address must be numeric.
 */
int rx_conf_listen(struct rx_conf *c, const char *s);

/*
 * Parse "ADDR:PORT", "[V6ADDR]:PORT", "PORT" or "off" (port -1) into the AMQP plain (tls 0) or
 * TLS (tls 1) listener of c->amqp. Returns 0 or HC_E_PARSE (c unchanged).
 */
int rx_conf_amqp_listen(struct rx_conf *c, const char *s, int tls);

/* 1 when the listen address is a loopback address (127.0.0.0/8 or ::1). */
int rx_conf_is_loopback(const struct rx_conf *c);

/*
 * Check the settings together (at least one hub and one rule with Send, tls_cert with tls_key,
 * rule hubs that exist). Returns 0 or HC_E_INVAL with c->err set.
 */
int rx_conf_check(struct rx_conf *c);

/* The hub named name[0..len) (compared case-insensitively, as Event Hubs names are), or -1. */
int rx_conf_hub_index(const struct rx_conf *c, const char *name, size_t len);

/*
 * The consumer group named name[0..len) of hub h (compared case-insensitively): 0 for $Default,
 * i + 1 for h->groups[i], or -1 when the hub has no such group.
 */
int rx_conf_group_index(const struct rx_hub_conf *h, const char *name, size_t len);

/* The name of group g of hub h (0: "$Default"). */
const char *rx_conf_group_name(const struct rx_hub_conf *h, int g);

/* Add (or replace) the [mqtt] setting key = value. Returns 0 or HC_E_TOOBIG with c->err set. */
int rx_conf_mqtt_set(struct rx_conf *c, const char *key, const char *value);

/*
 * The connection string an agent would use for the first hub, with the first policy that can
 * send: "Endpoint=sb://HOST:PORT/;SharedAccessKeyName=NAME;SharedAccessKey=KEY;EntityPath=HUB"
 * and ";UseDevelopmentEmulator=true" when the receiver speaks plain HTTP (no TLS), as the agent's
 * connection string parser understands it (common/connstr.h). HOST is host_name, else the listen
 * address (127.0.0.1 for 0.0.0.0, [::1] for ::). with_key 0 writes "<key>" instead of the key.
 * Returns the length, or HC_E_TOOBIG / HC_E_NOTFOUND (no policy with Send).
 */
int rx_conf_connstr(const struct rx_conf *c, int port, int with_key, char *out, size_t cap);

/* "deflate" or "null". */
const char *rx_codec_name(enum rx_codec codec);

#endif
