#include "common/sas.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include <mbedtls/base64.h>
#include <mbedtls/md.h>

#include "common/error.h"

#define SAS_MAC_LEN   32   /* HMAC-SHA256 */
#define SAS_B64_LEN   44   /* base64 of 32 bytes, without NUL */
#define SAS_TOKEN_MAX 4096 /* longest token hc_sas_verify reads */
#define SAS_SIG_MAX   128  /* longest decoded sig hc_sas_verify reads */

struct sas_span {
    const char *p;
    size_t len;
};

int hc_url_encode(struct hc_buf *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    if (hc_buf_reserve(out, len * 3))
        return -ENOMEM;
    char *o = out->p + out->len;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    out->len = (size_t)(o - out->p);
    out->p[out->len] = '\0';
    return 0;
}

/* base64(HMAC-SHA256(key, text)) into b64 (SAS_B64_LEN + 1 bytes, NUL-terminated). */
static int sas_sign(const char *key, size_t key_len, const char *text, size_t len, char *b64)
{
    unsigned char mac[SAS_MAC_LEN];
    size_t olen = 0;
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    if (!md || mbedtls_md_hmac(md, (const unsigned char *)key, key_len, (const unsigned char *)text,
                               len, mac))
        return HC_E_INVAL;
    if (mbedtls_base64_encode((unsigned char *)b64, SAS_B64_LEN + 1, &olen, mac, sizeof mac) ||
        olen != SAS_B64_LEN)
        return HC_E_INVAL;
    return 0;
}

/* enc(lower(uri)) into enc_uri (which the caller frees). */
static int sas_encoded_uri(const char *uri, struct hc_buf *enc_uri)
{
    struct hc_buf lower = HC_BUF_INIT;
    size_t n = strlen(uri);
    int rc;
    if (hc_buf_add(&lower, uri, n))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        lower.p[i] = (char)tolower((unsigned char)lower.p[i]);
    rc = hc_url_encode(enc_uri, lower.p, n);
    hc_buf_free(&lower);
    return rc;
}

int hc_sas_token(const char *uri, const char *key_name, const char *key, int64_t expiry_s,
                 struct hc_buf *out)
{
    struct hc_buf enc_uri = HC_BUF_INIT, text = HC_BUF_INIT;
    char sig[SAS_B64_LEN + 1];
    size_t start = out->len;
    int rc;
    if (!uri || !*uri || !key_name || !*key_name || !key || !*key || expiry_s < 0)
        return HC_E_INVAL;
    if ((rc = sas_encoded_uri(uri, &enc_uri)))
        goto out_free;
    if (hc_buf_add(&text, enc_uri.p, enc_uri.len) || hc_buf_addc(&text, '\n') ||
        hc_buf_add_i64(&text, expiry_s)) {
        rc = -ENOMEM;
        goto out_free;
    }
    if ((rc = sas_sign(key, strlen(key), text.p, text.len, sig)))
        goto out_free;
    if (hc_buf_adds(out, HC_SAS_PREFIX "sr=") || hc_buf_add(out, enc_uri.p, enc_uri.len) ||
        hc_buf_adds(out, "&sig=") || hc_url_encode(out, sig, SAS_B64_LEN) ||
        hc_buf_adds(out, "&se=") || hc_buf_add_i64(out, expiry_s) || hc_buf_adds(out, "&skn=") ||
        hc_url_encode(out, key_name, strlen(key_name)))
        rc = -ENOMEM;
out_free:
    if (rc && out->p) {
        out->len = start;
        out->p[start] = '\0';
    }
    hc_buf_free(&enc_uri);
    hc_buf_free(&text);
    return rc;
}

static int sas_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/*
 * Percent-decode s into out (cap bytes, NUL-terminated); '+' becomes a space when plus_space.
 * HC_E_PARSE on a bad escape, a NUL byte, or when the result does not fit.
 */
static int sas_decode(struct sas_span s, int plus_space, char *out, size_t cap, size_t *olen)
{
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++) {
        int c = (unsigned char)s.p[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= s.len)
                return HC_E_PARSE;
            hi = sas_hexval(s.p[i + 1]);
            lo = sas_hexval(s.p[i + 2]);
            if (hi < 0 || lo < 0)
                return HC_E_PARSE;
            c = hi << 4 | lo;
            i += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        }
        if (c == 0 || n + 1 >= cap)
            return HC_E_PARSE;
        out[n++] = (char)c;
    }
    out[n] = '\0';
    if (olen)
        *olen = n;
    return 0;
}

/* The four parameters of a token, as they appear in it (still encoded). */
struct sas_params {
    struct sas_span sr, sig, se, skn;
};

/* Skip spaces and the "SharedAccessSignature" word, if present. */
static const char *sas_body(const char *token)
{
    size_t plen = strlen(HC_SAS_PREFIX) - 1;
    while (*token == ' ' || *token == '\t')
        token++;
    if (strncasecmp(token, HC_SAS_PREFIX, plen) == 0 &&
        (token[plen] == ' ' || token[plen] == '\t')) {
        token += plen;
        while (*token == ' ' || *token == '\t')
            token++;
    }
    return token;
}

/* Store the parameter k=v; each known name once, with a value; unknown names are ignored. */
static int sas_store(struct sas_params *prm, struct sas_span k, struct sas_span v)
{
    struct sas_span *slot = NULL;
    if (k.len == 2 && strncasecmp(k.p, "sr", 2) == 0)
        slot = &prm->sr;
    else if (k.len == 3 && strncasecmp(k.p, "sig", 3) == 0)
        slot = &prm->sig;
    else if (k.len == 2 && strncasecmp(k.p, "se", 2) == 0)
        slot = &prm->se;
    else if (k.len == 3 && strncasecmp(k.p, "skn", 3) == 0)
        slot = &prm->skn;
    if (!slot)
        return 0;
    if (slot->p || !v.len)
        return HC_E_PARSE;
    *slot = v;
    return 0;
}

/* Split "sr=…&sig=…&se=…&skn=…" into prm. HC_E_PARSE unless all four are there. */
static int sas_split(const char *s, struct sas_params *prm)
{
    memset(prm, 0, sizeof *prm);
    size_t total = strlen(s);
    if (total > SAS_TOKEN_MAX)
        return HC_E_PARSE;
    while (total) {
        const char *amp = memchr(s, '&', total);
        size_t len = amp ? (size_t)(amp - s) : total;
        const char *eq = memchr(s, '=', len);
        if (len) {
            if (!eq)
                return HC_E_PARSE;
            struct sas_span k = {s, (size_t)(eq - s)}, v = {eq + 1, len - (size_t)(eq - s) - 1};
            while (v.len && (v.p[v.len - 1] == ' ' || v.p[v.len - 1] == '\t'))
                v.len--;
            if (sas_store(prm, k, v))
                return HC_E_PARSE;
        }
        total -= amp ? len + 1 : len;
        s += amp ? len + 1 : len;
    }
    if (!prm->sr.p || !prm->sig.p || !prm->se.p || !prm->skn.p)
        return HC_E_PARSE;
    return 0;
}

/* se as a number: decimal digits only, at most 18 of them. */
static int sas_number(struct sas_span s, int64_t *v)
{
    int64_t n = 0;
    if (!s.len || s.len > 18)
        return HC_E_PARSE;
    for (size_t i = 0; i < s.len; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return HC_E_PARSE;
        n = n * 10 + (s.p[i] - '0');
    }
    *v = n;
    return 0;
}

int hc_sas_expiry(const char *token, int64_t *expiry_s)
{
    struct sas_params prm;
    if (!token || sas_split(sas_body(token), &prm))
        return HC_E_PARSE;
    return sas_number(prm.se, expiry_s);
}

/* 1 when a[0..n) equals b[0..n); the time taken does not depend on where they differ. */
static int sas_equal_ct(const unsigned char *a, const unsigned char *b, size_t n)
{
    volatile unsigned char diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

/*
 * Check sig_b64 (the decoded sig) against HMAC-SHA256(key, sr + "\n" + se), computed over the sr
 * and se texts exactly as they are in the token.
 */
static int sas_check_sig(const struct sas_params *prm, const char *sig_b64, size_t sig_len,
                         const char *key, size_t key_len)
{
    char b64[SAS_B64_LEN + 1];
    unsigned char want[SAS_MAC_LEN + 4], got[SAS_MAC_LEN + 4];
    size_t want_len = 0, got_len = 0;
    struct hc_buf text = HC_BUF_INIT;
    int rc = HC_E_AUTH;
    if (hc_buf_add(&text, prm->sr.p, prm->sr.len) || hc_buf_addc(&text, '\n') ||
        hc_buf_add(&text, prm->se.p, prm->se.len)) {
        rc = -ENOMEM;
        goto out_free;
    }
    if (sas_sign(key, key_len, text.p, text.len, b64) ||
        mbedtls_base64_decode(want, sizeof want, &want_len, (const unsigned char *)b64,
                              SAS_B64_LEN) ||
        want_len != SAS_MAC_LEN)
        goto out_free;
    if (mbedtls_base64_decode(got, sizeof got, &got_len, (const unsigned char *)sig_b64, sig_len) ||
        got_len != SAS_MAC_LEN)
        goto out_free;
    rc = sas_equal_ct(want, got, SAS_MAC_LEN) ? 0 : HC_E_AUTH;
out_free:
    hc_buf_free(&text);
    return rc;
}

/* A URI reduced to what names a resource: host without port, path without trailing '/'. */
struct sas_res {
    struct sas_span host, path;
};

static struct sas_res sas_res_of(const char *s, size_t len)
{
    struct sas_res r;
    const char *end = s + len, *q = memchr(s, '?', len), *sep;
    if (q)
        end = q;
    sep = strstr(s, "://");
    if (sep && sep < end)
        s = sep + 3;
    const char *slash = memchr(s, '/', (size_t)(end - s));
    const char *hend = slash ? slash : end;
    const char *colon = NULL;
    for (const char *c = s; c < hend; c++) {
        if (*c == ']')
            colon = NULL;
        else if (*c == ':')
            colon = c;
    }
    r.host = (struct sas_span){s, (size_t)((colon ? colon : hend) - s)};
    r.path = (struct sas_span){hend, (size_t)(end - hend)};
    while (r.path.len && r.path.p[r.path.len - 1] == '/')
        r.path.len--;
    return r;
}

/* 1 when the audience covers resource: same host, and its path a '/'-bounded prefix. */
static int sas_covers(const char *audience, const char *resource)
{
    struct sas_res a = sas_res_of(audience, strlen(audience));
    struct sas_res r = sas_res_of(resource, strlen(resource));
    if (a.host.len != r.host.len || strncasecmp(a.host.p, r.host.p, a.host.len) != 0)
        return 0;
    if (a.path.len > r.path.len || strncasecmp(a.path.p, r.path.p, a.path.len) != 0)
        return 0;
    return a.path.len == r.path.len || r.path.p[a.path.len] == '/';
}

const char *hc_sas_reason_str(enum hc_sas_reason reason)
{
    switch (reason) {
    case HC_SAS_OK:
        return "token accepted";
    case HC_SAS_MALFORMED:
        return "malformed token (expected SharedAccessSignature sr=…&sig=…&se=…&skn=…)";
    case HC_SAS_UNKNOWN_KEY:
        return "token signed with an unknown key name (skn)";
    case HC_SAS_BAD_SIGNATURE:
        return "token signature does not match the key";
    case HC_SAS_EXPIRED:
        return "token expired";
    case HC_SAS_WRONG_AUDIENCE:
        return "token is for another resource (sr)";
    }
    return "unknown token error";
}

/* The checks of hc_sas_verify, once the token has been split. */
static int sas_verify_params(const struct sas_params *prm, hc_sas_key_fn lookup, void *ctx,
                             const char *resource, int64_t now_s, struct hc_sas_claims *c,
                             enum hc_sas_reason *why)
{
    const char *key = NULL;
    char sig[SAS_SIG_MAX];
    size_t key_len = 0, sig_len = 0;
    int rc;
    /* sig is base64, percent-encoded: '+' here is a base64 digit, not a space. */
    if (sas_number(prm->se, &c->expiry_s) ||
        sas_decode(prm->skn, 1, c->key_name, sizeof c->key_name, NULL) ||
        sas_decode(prm->sr, 1, c->audience, sizeof c->audience, NULL) ||
        sas_decode(prm->sig, 0, sig, sizeof sig, &sig_len)) {
        *why = HC_SAS_MALFORMED;
        return HC_E_PARSE;
    }
    for (char *p = c->audience; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (lookup(ctx, c->key_name, &key, &key_len) || !key) {
        *why = HC_SAS_UNKNOWN_KEY;
        return HC_E_AUTH;
    }
    rc = sas_check_sig(prm, sig, sig_len, key, key_len);
    if (rc) {
        *why = HC_SAS_BAD_SIGNATURE;
        return rc;
    }
    if (now_s >= c->expiry_s) {
        *why = HC_SAS_EXPIRED;
        return HC_E_AUTH;
    }
    if (resource && !sas_covers(c->audience, resource)) {
        *why = HC_SAS_WRONG_AUDIENCE;
        return HC_E_AUTH;
    }
    return 0;
}

int hc_sas_verify(const char *token, hc_sas_key_fn lookup, void *ctx, const char *resource,
                  int64_t now_s, struct hc_sas_claims *claims, enum hc_sas_reason *why)
{
    struct sas_params prm;
    struct hc_sas_claims local;
    enum hc_sas_reason dummy;
    int rc;
    if (!why)
        why = &dummy;
    *why = HC_SAS_MALFORMED;
    if (!token || !lookup || sas_split(sas_body(token), &prm))
        return HC_E_PARSE;
    memset(&local, 0, sizeof local);
    rc = sas_verify_params(&prm, lookup, ctx, resource, now_s, &local, why);
    if (rc)
        return rc;
    *why = HC_SAS_OK;
    if (claims)
        *claims = local;
    return 0;
}
