/*
 * sas.h - Shared Access Signature tokens, as Event Hubs and Service Bus use them:
 *
 *   SharedAccessSignature sr={enc(uri)}&sig={enc(b64(HMAC-SHA256(key, enc(uri)+"\n"+se)))}
 *                         &se={expiry}&skn={enc(key_name)}
 *
 * - uri is lower-cased first, as the Azure SDKs do (Azure.Messaging.EventHubs builds the audience
 *   with Uri.AbsoluteUri.ToLowerInvariant() and no port), e.g.
 * "https://ns.servicebus.windows.net/hub".
 * - enc() is URL percent-encoding: the RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~) stay,
 *   every other byte becomes %XX with upper-case hex. For the URIs Event Hubs uses this is the same
 *   text as .NET WebUtility.UrlEncode, JavaScript encodeURIComponent and Python quote_plus give.
 * - The key is used as its UTF-8 bytes; it is NOT base64-decoded (Event Hubs keys look like base64
 *   but the service signs with the text).
 * - se is the expiry in seconds since the Unix epoch, in decimal.
 *
 * HMAC-SHA256 and base64 come from mbedTLS.
 */
#ifndef HC_SAS_H
#define HC_SAS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define HC_SAS_PREFIX "SharedAccessSignature "

/*
 * Append the token for uri (a C string; lower-cased before use), signed with key under the policy
 * key_name, valid until expiry_s (Unix seconds), to out. Returns 0, HC_E_INVAL (an empty uri,
 * key_name or key, or a negative expiry), or -ENOMEM; on failure out is left as it was.
 */
int hc_sas_token(const char *uri, const char *key_name, const char *key, int64_t expiry_s,
                 struct hc_buf *out);

/*
 * Append enc(s[0..len)) to out (the percent-encoding above). Returns 0 or -ENOMEM.
 */
int hc_url_encode(struct hc_buf *out, const char *s, size_t len);

/*
 * The expiry (se) of a token, in Unix seconds. Returns 0 and sets *expiry_s, or HC_E_PARSE when
 * the token has no valid se. No signature check: for a client deciding when a prebuilt token runs
 * out.
 */
int hc_sas_expiry(const char *token, int64_t *expiry_s);

/* Why hc_sas_verify refused a token. */
enum hc_sas_reason {
    HC_SAS_OK = 0,
    HC_SAS_MALFORMED,     /* not "SharedAccessSignature sr=…&sig=…&se=…&skn=…" */
    HC_SAS_UNKNOWN_KEY,   /* no key of that name (skn) */
    HC_SAS_BAD_SIGNATURE, /* sig does not match the key */
    HC_SAS_EXPIRED,       /* se is in the past */
    HC_SAS_WRONG_AUDIENCE /* sr does not cover the resource asked for */
};

/* A sentence naming reason, e.g. "token expired". Static, never NULL. */
const char *hc_sas_reason_str(enum hc_sas_reason reason);

/*
 * Key lookup for hc_sas_verify: set *key (and *key_len) to the key of the policy key_name and
 * return 0, or return HC_E_NOTFOUND. The key must stay valid until hc_sas_verify returns.
 */
typedef int (*hc_sas_key_fn)(void *ctx, const char *key_name, const char **key, size_t *key_len);

/* What a verified token says. */
struct hc_sas_claims {
    char key_name[257];  /* skn, decoded */
    char audience[1025]; /* sr, decoded and lower-cased */
    int64_t expiry_s;    /* se */
};

/*
 * Verify a token (with or without its "SharedAccessSignature " prefix; the Authorization header
 * value as received) for access to resource at time now_s (Unix seconds).
 *
 * Checks, in this order: the form (sr, sig, se, skn present once each; se a decimal number;
 * parameter names case-insensitive, unknown ones ignored), the key name (lookup), the signature
 * (HMAC-SHA256 over the sr and se texts exactly as they appear in the token, compared in constant
 * time), the expiry (now_s must be before se), and the audience: the decoded sr must be a prefix of
 * resource, compared case-insensitively, ignoring the scheme (sb, amqps, https and http are the
 * same resource, as in Event Hubs) and any port, and ending at a '/' boundary of resource (a token
 * for "sb://ns/hub" covers "https://ns/hub/messages" but not "https://ns/hub2"). resource NULL
 * skips the audience check.
 *
 * Returns 0 (and fills *claims when claims is not NULL), HC_E_PARSE for a malformed token, or
 * HC_E_AUTH for a token refused; *why (when why is not NULL) gets the reason in both cases.
 * -ENOMEM when memory runs out.
 */
int hc_sas_verify(const char *token, hc_sas_key_fn lookup, void *ctx, const char *resource,
                  int64_t now_s, struct hc_sas_claims *claims, enum hc_sas_reason *why);

#endif
