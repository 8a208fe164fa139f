/*
 * hubconf.h - what every Event Hubs transport (https, amqp) is configured with, and its SAS
 * token. No I/O: settings (key/value text from the INI file or the command line) become a struct
 * ag_hub_conf; a transport reads its own keys first and passes the others here.
 *
 * Settings (ag_hub_conf_set, keys case-insensitive):
 *   connection_string  as Azure prints it (common/connstr.h); required
 *   hub                the event hub name, when the connection string has no EntityPath
 *   ca_file            PEM CA bundle to verify the hub's certificate; default: the system's
 *   connect_timeout    duration (common/hctime.h), default 10s: DNS, TCP, TLS, protocol open
 *   timeout            one send at most, default 70s (the hub's own timeout is 60 s)
 *   token_ttl          lifetime of a SAS token, 2s to 365d, default 1h
 *   token_renew        renew a token when less than this is left; default 5m, or a third of a
 *                      token_ttl shorter than 15m
 *   tier               basic | standard | premium | dedicated: sets the default max_batch_bytes
 *   max_batch_bytes    size (e.g. "1M"), default 1048576 (262144 for the basic tier): a REST
 *                      body at most; over AMQP one message at most (the attach may say less)
 *                      and the bytes of one send's messages together
 */
#ifndef AG_HUBCONF_H
#define AG_HUBCONF_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/connstr.h"

struct ag_kv; /* transport.h */

#define AG_HUB_BATCH_STANDARD 1048576 /* 1 MB: Standard, Premium, Dedicated */
#define AG_HUB_BATCH_BASIC    262144  /* 256 KB: Basic */
#define AG_HUB_BATCH_MIN      1024
#define AG_HUB_BATCH_MAX      (64u * 1024 * 1024)

/*
 * The settings every transport shares. Fields above `cs` are settings (strings owned by the
 * struct); `cs` and below are derived by ag_hub_conf_finish.
 */
struct ag_hub_conf {
    char *connection_string;
    char *hub;
    char *ca_file;
    int64_t connect_timeout_ms;
    int64_t timeout_ms;
    int64_t token_ttl_ms;
    int64_t token_renew_ms;   /* 0 until finish unless set: then the default */
    uint64_t max_batch_bytes; /* 0 until finish unless set: then the tier's default */
    int basic_tier;

    struct hc_connstr cs; /* the parsed connection string */
    char *host_port;      /* "host:port" (the port this transport connects to), for messages */
};

/* Defaults, no strings. Free with ag_hub_conf_free. */
void ag_hub_conf_default(struct ag_hub_conf *c);

/*
 * Apply one setting (keys above). Returns 0; HC_E_NOTFOUND for a key it does not know (the
 * caller may know it, else it is an unknown setting); HC_E_PARSE or HC_E_INVAL for a bad value;
 * -ENOMEM. On failure *why (when not NULL) is a static sentence naming the problem, and c is
 * unchanged.
 */
int ag_hub_conf_set(struct ag_hub_conf *c, const char *key, const char *value, const char **why);

/*
 * Check the settings together and derive cs, host_port (the Endpoint's port, else tls_port,
 * or plain_port for a plain connection: UseDevelopmentEmulator=true or http://), token_renew_ms
 * and max_batch_bytes. Returns 0, or a code with *why as for
 * hc_connstr_parse ("no connection string: pass --connection-string or set
 * HUBCAP_CONNECTION_STRING", "no EntityPath: pass the event hub name", "token_renew must be
 * shorter than token_ttl", ...).
 */
int ag_hub_conf_finish(struct ag_hub_conf *c, int tls_port, int plain_port, const char **why);

/*
 * The settings of a transport over a hub, at its init: conf[0..n) applied one by one with set,
 * then finish (each: 0, or a code with *why a static sentence), then the files hub names
 * (ca_file, filled in by set) must be readable. tc is the transport's settings struct, passed to
 * set and finish. Returns 0, or the code with a sentence in err (errlen bytes): "KEY: why",
 * "why", or "ca_file PATH: reason" (-errno).
 */
int ag_hub_conf_apply(void *tc, const struct ag_hub_conf *hub,
                      int (*set)(void *tc, const char *key, const char *value, const char **why),
                      int (*finish)(void *tc, const char **why), const struct ag_kv *conf, size_t n,
                      char *err, size_t errlen);

/* Release the strings and wipe the secrets; accepts NULL. c may be reused after
 * ag_hub_conf_default. */
void ag_hub_conf_free(struct ag_hub_conf *c);

/* The keys ag_hub_conf_set knows, for "unknown setting" messages. */
#define AG_HUB_CONF_KEYS                                                                           \
    "connection_string, hub, ca_file, connect_timeout, timeout, token_ttl, token_renew, tier, "    \
    "max_batch_bytes"

/* ---- the SAS token ------------------------------------------------------------------------- */

/* The current token for an audience. Owns its text (wiped when freed). */
struct ag_hub_token {
    struct hc_buf text;   /* "SharedAccessSignature sr=…" */
    int64_t expiry_s;     /* its se; 0 when unknown (a prebuilt token without one) */
    int fixed;            /* a prebuilt SharedAccessSignature: never renewed */
    uint64_t made;        /* tokens made so far */
    const char *audience; /* what tokens are signed for (not owned) */
};

/*
 * Make the first token for audience (kept as a pointer: it must outlive t), or take the
 * prebuilt one of c->cs. Returns 0, or an hc_sas_token error (-ENOMEM, HC_E_INVAL).
 */
int ag_hub_token_init(struct ag_hub_token *t, const struct ag_hub_conf *c, const char *audience);

/* Make a new token valid for token_ttl from now. HC_E_AUTH for a prebuilt one. */
int ag_hub_token_renew(struct ag_hub_token *t, const struct ag_hub_conf *c);

/* 1 when the token has less than token_renew left and can be renewed, else 0. */
int ag_hub_token_due(const struct ag_hub_token *t, const struct ag_hub_conf *c, int64_t now_ms);

/* Wipe and free; accepts NULL. */
void ag_hub_token_free(struct ag_hub_token *t);

#endif
