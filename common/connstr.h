/*
 * connstr.h - Event Hubs connection strings, exactly as Azure prints them:
 *
 *   Endpoint=sb://NS.servicebus.windows.net/;SharedAccessKeyName=NAME;SharedAccessKey=KEY;
 *   EntityPath=HUB
 *
 * Pairs are separated by ';' (a trailing ';' is optional, empty pairs and spaces around keys and
 * values are ignored). Keys are case-insensitive and come in any order; a value runs to the next
 * ';', so it may contain '=' (base64 keys end in '='). Unknown keys are ignored, as the Azure SDKs
 * do (e.g. TransportType). Also understood:
 *
 *   UseDevelopmentEmulator=true   plain HTTP (no TLS) to a local emulator or hubcap-receiver
 *   SharedAccessSignature=SharedAccessSignature sr=…&sig=…&se=…&skn=…   a prebuilt token, used
 *                                 as it is (it cannot be renewed), instead of a key
 *
 * Endpoint forms: sb://host[:port][/] (TLS unless UseDevelopmentEmulator=true),
 * https://host[:port][/] (TLS) and http://host[:port][/] (plain HTTP, e.g. a local
 * hubcap-receiver). host may be a DNS name, an IPv4 address or a bracketed IPv6 address ("[::1]").
 */
#ifndef HC_CONNSTR_H
#define HC_CONNSTR_H

#include <stddef.h>

#define HC_CONNSTR_HOST_MAX  256  /* host text, NUL included */
#define HC_CONNSTR_NAME_MAX  257  /* hub, namespace and key names: Azure allows 256 characters */
#define HC_CONNSTR_KEY_MAX   257  /* SharedAccessKey */
#define HC_CONNSTR_TOKEN_MAX 2048 /* SharedAccessSignature */

enum hc_scheme {
    HC_SCHEME_HTTPS = 0, /* TLS */
    HC_SCHEME_HTTP = 1,  /* plain: UseDevelopmentEmulator=true, or an http:// endpoint */
};

/* A parsed connection string. Self-contained: it owns no memory outside itself. */
struct hc_connstr {
    enum hc_scheme scheme;
    char host[HC_CONNSTR_HOST_MAX];     /* as written, lower-cased; IPv6 keeps its brackets */
    int port;                           /* from the Endpoint; 0 when none was given */
    char ns[HC_CONNSTR_NAME_MAX];       /* namespace: the first label of host ("NS"), or the
                                           whole host for an IP address or a one-label name */
    char hub[HC_CONNSTR_NAME_MAX];      /* EntityPath, or the hub given separately */
    char key_name[HC_CONNSTR_NAME_MAX]; /* SharedAccessKeyName, "" with a token */
    char key[HC_CONNSTR_KEY_MAX];       /* SharedAccessKey as written (not base64-decoded) */
    char token[HC_CONNSTR_TOKEN_MAX];   /* SharedAccessSignature, "" with a key */
    int emulator;                       /* UseDevelopmentEmulator=true */
    int sb;                             /* the Endpoint was written sb:// (the SDKs take AMQP) */
};

/*
 * Parse the connection string s. hub is the event hub name given separately (NULL or "" when
 * none): it is used when s has no EntityPath; when both are given they must name the same hub
 * (compared case-insensitively, as Event Hubs names are), as the Azure SDKs require.
 *
 * Returns 0 and fills *out, or one of:
 *   HC_E_PARSE   not a connection string, or a bad Endpoint
 *   HC_E_INVAL   a part is missing or conflicts with another (no key name, no hub, ...)
 *   HC_E_TOOBIG  a value is longer than its field
 * and sets *why (when why is not NULL) to a static sentence a user can act on, e.g.
 * "connection string has no SharedAccessKeyName" or "no EntityPath: pass the event hub name".
 * On failure *out is zeroed (no key is left behind in it).
 */
int hc_connstr_parse(const char *s, const char *hub, struct hc_connstr *out, const char **why);

/*
 * The port to connect to: the Endpoint's, else 443 for HC_SCHEME_HTTPS and 80 for HC_SCHEME_HTTP.
 */
int hc_connstr_port(const struct hc_connstr *cs);

/*
 * Write the SAS audience (the resource URI a token is signed for) into out (cap bytes):
 * "{scheme}://{host}/{hub}", lower-cased and without a port, as the Azure SDKs build it.
 * scheme NULL means the connection's own ("https" or "http"). Returns the length written
 * (without the NUL), or HC_E_TOOBIG when cap is too small (out then holds "").
 */
int hc_connstr_audience(const struct hc_connstr *cs, const char *scheme, char *out, size_t cap);

/* Overwrite the secret fields (key, token) with zeros. */
void hc_connstr_wipe(struct hc_connstr *cs);

#endif
