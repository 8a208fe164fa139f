/*
 * test_sas.c - SAS tokens against an independent computation (the openssl command line:
 * `openssl dgst -sha256 -hmac KEY -binary | base64`), and verification: a round trip, and the
 * refusals a receiver must make (forged, expired, wrong audience, unknown key, malformed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/sas.h"

/* Single-quote s for the shell ('…', with ' written as '\''). */
static void shell_quote(struct hc_buf *out, const char *s)
{
    assert_int_equal(hc_buf_addc(out, '\''), 0);
    for (; *s; s++) {
        if (*s == '\'')
            assert_int_equal(hc_buf_adds(out, "'\\''"), 0);
        else
            assert_int_equal(hc_buf_addc(out, *s), 0);
    }
    assert_int_equal(hc_buf_addc(out, '\''), 0);
}

/* base64(HMAC-SHA256(key, msg)) computed by the openssl and base64 commands, into b64 (64 bytes).
 */
static void openssl_hmac_b64(const char *key, const char *msg, char *b64)
{
    char path[] = "/tmp/hc_test_sas_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, msg, strlen(msg)), (ssize_t)strlen(msg));
    close(fd);
    struct hc_buf cmd = HC_BUF_INIT;
    assert_int_equal(hc_buf_adds(&cmd, "openssl dgst -sha256 -hmac "), 0);
    shell_quote(&cmd, key);
    assert_int_equal(hc_buf_addf(&cmd, " -binary < %s | base64", path), 0);
    FILE *p = popen(cmd.p, "r");
    assert_non_null(p);
    assert_non_null(fgets(b64, 64, p));
    assert_int_equal(pclose(p), 0);
    unlink(path);
    hc_buf_free(&cmd);
    b64[strcspn(b64, "\r\n")] = '\0';
    assert_int_equal(strlen(b64), 44);
}

/* The token as Azure documents it, from the pieces computed in the test. */
static void expected_token(const char *enc_uri, const char *b64, long long se, const char *skn,
                           struct hc_buf *out)
{
    assert_int_equal(hc_buf_adds(out, "SharedAccessSignature sr="), 0);
    assert_int_equal(hc_buf_adds(out, enc_uri), 0);
    assert_int_equal(hc_buf_adds(out, "&sig="), 0);
    for (const char *c = b64; *c; c++) {
        const char *e = *c == '+' ? "%2B" : *c == '/' ? "%2F" : *c == '=' ? "%3D" : NULL;
        assert_int_equal(e ? hc_buf_adds(out, e) : hc_buf_addc(out, *c), 0);
    }
    assert_int_equal(hc_buf_addf(out, "&se=%lld&skn=%s", se, skn), 0);
}

struct vector {
    const char *uri, *enc_uri; /* enc_uri: lower-cased and percent-encoded, written by hand */
    const char *key, *key_name;
    long long se;
};

static const struct vector vectors[] = {
    {"https://contoso.servicebus.windows.net/orders",
     "https%3A%2F%2Fcontoso.servicebus.windows.net%2Forders",
     "3b9Ac1Zx/Q+8s0kE2mWq5vR7tYpL4nHdJfGhIu9oP0k=", "RootManageSharedAccessKey", 1700000000},
    /* Upper case in the URI: signed lower-cased, as the Azure SDKs do. */
    {"HTTPS://Contoso.ServiceBus.Windows.NET/Orders",
     "https%3A%2F%2Fcontoso.servicebus.windows.net%2Forders", "key", "send", 1893456000},
    /* A key with shell and JSON specials and UTF-8, used as its bytes. */
    {"sb://ns-1.servicebus.windows.net/hub_2.a~b",
     "sb%3A%2F%2Fns-1.servicebus.windows.net%2Fhub_2.a~b",
     "it's a \"k\xe2\x82\xacy\" & $HOME \\ ;=+/", "send-policy_1.x", 4102444800},
    /* Reserved characters, a port and a space. */
    {"http://127.0.0.1:8080/a b&c=d", "http%3A%2F%2F127.0.0.1%3A8080%2Fa%20b%26c%3Dd", "k", "n", 1},
};

static void token_matches_openssl(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        const struct vector *v = &vectors[i];
        struct hc_buf msg = HC_BUF_INIT, want = HC_BUF_INIT, got = HC_BUF_INIT;
        char b64[64];
        assert_int_equal(hc_buf_addf(&msg, "%s\n%lld", v->enc_uri, v->se), 0);
        openssl_hmac_b64(v->key, msg.p, b64);
        expected_token(v->enc_uri, b64, v->se, v->key_name, &want);
        assert_int_equal(hc_sas_token(v->uri, v->key_name, v->key, v->se, &got), 0);
        assert_string_equal(got.p, want.p);
        hc_buf_free(&msg);
        hc_buf_free(&want);
        hc_buf_free(&got);
    }
}

static void token_appends_and_checks_args(void **state)
{
    (void)state;
    struct hc_buf b = HC_BUF_INIT;
    assert_int_equal(hc_buf_adds(&b, "Authorization: "), 0);
    assert_int_equal(hc_sas_token("https://ns/h", "n", "k", 10, &b), 0);
    assert_true(
        strncmp(b.p, "Authorization: SharedAccessSignature sr=https%3A%2F%2Fns%2Fh&sig=",
                strlen("Authorization: SharedAccessSignature sr=https%3A%2F%2Fns%2Fh&sig=")) == 0);
    size_t len = b.len;
    assert_int_equal(hc_sas_token("", "n", "k", 10, &b), HC_E_INVAL);
    assert_int_equal(hc_sas_token("u", "", "k", 10, &b), HC_E_INVAL);
    assert_int_equal(hc_sas_token("u", "n", "", 10, &b), HC_E_INVAL);
    assert_int_equal(hc_sas_token("u", "n", "k", -1, &b), HC_E_INVAL);
    assert_int_equal(b.len, len);
    hc_buf_free(&b);
}

static void url_encode(void **state)
{
    (void)state;
    struct hc_buf b = HC_BUF_INIT;
    const char in[] = "AZaz09-._~ :/?#[]@!$&'()*+,;=%\x01\xc3\xa9";
    assert_int_equal(hc_url_encode(&b, in, sizeof in - 1), 0);
    assert_string_equal(b.p, "AZaz09-._~%20%3A%2F%3F%23%5B%5D%40%21%24%26%27%28%29%2A%2B%2C%3B%3D"
                             "%25%01%C3%A9");
    hc_buf_free(&b);
}

/* Keys of the receiver in the tests. */
static int lookup(void *ctx, const char *name, const char **key, size_t *key_len)
{
    (void)ctx;
    static const char *const keys[][2] = {
        {"send", "s3cret+/="},
        {"RootManageSharedAccessKey", "3b9Ac1Zx/Q+8s0kE2mWq5vR7tYpL4nHdJfGhIu9oP0k="},
        {"special name", "k"},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (strcmp(keys[i][0], name) == 0) {
            *key = keys[i][1];
            *key_len = strlen(keys[i][1]);
            return 0;
        }
    }
    return HC_E_NOTFOUND;
}

#define NS_URI "https://contoso.servicebus.windows.net/orders"
#define SE     2000000000LL

/* hc_sas_verify of token for resource at now; expect rc and reason. */
static void expect_verify(const char *token, const char *resource, int64_t now, int rc,
                          enum hc_sas_reason reason)
{
    enum hc_sas_reason why = HC_SAS_OK;
    struct hc_sas_claims c;
    int got = hc_sas_verify(token, lookup, NULL, resource, now, &c, &why);
    if (got != rc || why != reason)
        fail_msg("token \"%s\" for %s: got %d (%s), want %d (%s)", token,
                 resource ? resource : "(any)", got, hc_sas_reason_str(why), rc,
                 hc_sas_reason_str(reason));
}

static void verify_round_trip(void **state)
{
    (void)state;
    struct hc_buf t = HC_BUF_INIT;
    struct hc_sas_claims c;
    enum hc_sas_reason why;
    assert_int_equal(hc_sas_token(NS_URI, "send", "s3cret+/=", SE, &t), 0);
    assert_int_equal(hc_sas_verify(t.p, lookup, NULL, NS_URI "/messages", SE - 1, &c, &why), 0);
    assert_int_equal(why, HC_SAS_OK);
    assert_string_equal(c.key_name, "send");
    assert_string_equal(c.audience, NS_URI);
    assert_int_equal(c.expiry_s, SE);
    /* The scheme, a port, the query and letter case do not matter; the path boundary does. */
    expect_verify(t.p, "sb://contoso.servicebus.windows.net/orders", SE - 1, 0, HC_SAS_OK);
    expect_verify(t.p, "http://CONTOSO.servicebus.windows.net:8080/Orders/messages?timeout=60",
                  SE - 1, 0, HC_SAS_OK);
    expect_verify(t.p, "https://contoso.servicebus.windows.net/orders/", 0, 0, HC_SAS_OK);
    expect_verify(t.p, NULL, 0, 0, HC_SAS_OK);
    /* Without the "SharedAccessSignature " word, as some clients send the value. */
    expect_verify(t.p + strlen(HC_SAS_PREFIX), NS_URI, 0, 0, HC_SAS_OK);
    /* A namespace-wide token covers every hub. */
    hc_buf_reset(&t);
    assert_int_equal(
        hc_sas_token("sb://contoso.servicebus.windows.net/", "special name", "k", SE, &t), 0);
    assert_non_null(strstr(t.p, "&skn=special%20name"));
    expect_verify(t.p, NS_URI "/messages", 0, 0, HC_SAS_OK);
    expect_verify(t.p, "https://contoso.servicebus.windows.net/other/messages", 0, 0, HC_SAS_OK);
    hc_buf_free(&t);
}

static void verify_refusals(void **state)
{
    (void)state;
    struct hc_buf t = HC_BUF_INIT, forged = HC_BUF_INIT;
    assert_int_equal(hc_sas_token(NS_URI, "send", "s3cret+/=", SE, &t), 0);

    /* Expired: valid until se, not at se. */
    expect_verify(t.p, NS_URI, SE, HC_E_AUTH, HC_SAS_EXPIRED);
    expect_verify(t.p, NS_URI, SE + 3600, HC_E_AUTH, HC_SAS_EXPIRED);

    /* Wrong audience. */
    expect_verify(t.p, "https://contoso.servicebus.windows.net/orders2", 0, HC_E_AUTH,
                  HC_SAS_WRONG_AUDIENCE);
    expect_verify(t.p, "https://contoso.servicebus.windows.net/", 0, HC_E_AUTH,
                  HC_SAS_WRONG_AUDIENCE);
    expect_verify(t.p, "https://evil.servicebus.windows.net/orders", 0, HC_E_AUTH,
                  HC_SAS_WRONG_AUDIENCE);

    /* Forged: one character of the signature changed. */
    assert_int_equal(hc_buf_add(&forged, t.p, t.len), 0);
    char *sig = strstr(forged.p, "&sig=") + 5;
    sig[3] = sig[3] == 'A' ? 'B' : 'A';
    expect_verify(forged.p, NS_URI, 0, HC_E_AUTH, HC_SAS_BAD_SIGNATURE);

    /* Forged: another audience or expiry with the old signature. */
    hc_buf_reset(&forged);
    assert_int_equal(hc_buf_add(&forged, t.p, t.len), 0);
    char *se = strstr(forged.p, "&se=") + 4;
    se[0] = '3';
    expect_verify(forged.p, NS_URI, 0, HC_E_AUTH, HC_SAS_BAD_SIGNATURE);
    hc_buf_reset(&forged);
    assert_int_equal(hc_buf_add(&forged, t.p, t.len), 0);
    memcpy(strstr(forged.p, "contoso"), "contosx", 7);
    expect_verify(forged.p, "https://contosx.servicebus.windows.net/orders", 0, HC_E_AUTH,
                  HC_SAS_BAD_SIGNATURE);

    /* Signed with the right name but the wrong key. */
    hc_buf_reset(&forged);
    assert_int_equal(hc_sas_token(NS_URI, "send", "guess", SE, &forged), 0);
    expect_verify(forged.p, NS_URI, 0, HC_E_AUTH, HC_SAS_BAD_SIGNATURE);

    /* Unknown key name. */
    hc_buf_reset(&forged);
    assert_int_equal(hc_sas_token(NS_URI, "nobody", "s3cret+/=", SE, &forged), 0);
    expect_verify(forged.p, NS_URI, 0, HC_E_AUTH, HC_SAS_UNKNOWN_KEY);

    hc_buf_free(&t);
    hc_buf_free(&forged);
}

static void verify_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "SharedAccessSignature ",
        "garbage",
        "SharedAccessSignature sr=a&sig=b&se=1",                /* no skn */
        "SharedAccessSignature sr=a&sig=b&skn=send",            /* no se */
        "SharedAccessSignature sig=b&se=1&skn=send",            /* no sr */
        "SharedAccessSignature sr=a&se=1&skn=send",             /* no sig */
        "SharedAccessSignature sr=a&sr=a&sig=b&se=1&skn=send",  /* twice */
        "SharedAccessSignature sr=a&sig=b&se=12x&skn=send",     /* se not a number */
        "SharedAccessSignature sr=a&sig=b&se=-1&skn=send",      /* se negative */
        "SharedAccessSignature sr=a%2&sig=b&se=1&skn=send",     /* bad escape */
        "SharedAccessSignature sr=a%00b&sig=b&se=1&skn=send",   /* NUL */
        "SharedAccessSignature sr=&sig=b&se=1&skn=send",        /* empty */
        "SharedAccessSignature sr=a&sig=b&se=1&skn=send&nokey", /* no '=' */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_verify(bad[i], NS_URI, 0, HC_E_PARSE, HC_SAS_MALFORMED);
    expect_verify(NULL, NS_URI, 0, HC_E_PARSE, HC_SAS_MALFORMED);
    /* A signature that is not 32 bytes of base64 is a bad signature, not a crash. */
    expect_verify("SharedAccessSignature sr=a&sig=%%%%&se=1&skn=send", NS_URI, 0, HC_E_PARSE,
                  HC_SAS_MALFORMED);
    expect_verify("SharedAccessSignature sr=a&sig=QUJD&se=99&skn=send", NULL, 0, HC_E_AUTH,
                  HC_SAS_BAD_SIGNATURE);
    /* Unknown parameters are ignored, as the Azure SDKs do. */
    struct hc_buf t = HC_BUF_INIT;
    assert_int_equal(hc_sas_token(NS_URI, "send", "s3cret+/=", SE, &t), 0);
    assert_int_equal(hc_buf_adds(&t, "&foo=bar"), 0);
    expect_verify(t.p, NS_URI, 0, 0, HC_SAS_OK);
    hc_buf_free(&t);
}

/*
 * A token made the way other tools make them (System.Web.HttpUtility.UrlEncode writes lower-case
 * hex, parameters in another order): the signature covers sr exactly as written in the token.
 */
static void verify_foreign_token(void **state)
{
    (void)state;
    const char *sr = "https%3a%2f%2fcontoso.servicebus.windows.net%2forders";
    char b64[64], msg[128];
    struct hc_buf t = HC_BUF_INIT;
    snprintf(msg, sizeof msg, "%s\n%lld", sr, SE);
    openssl_hmac_b64("s3cret+/=", msg, b64);
    assert_int_equal(hc_buf_addf(&t, "SharedAccessSignature skn=send&se=%lld&sr=%s&sig=", SE, sr),
                     0);
    for (const char *c = b64; *c; c++)
        assert_int_equal(*c == '+'   ? hc_buf_adds(&t, "%2b")
                         : *c == '/' ? hc_buf_adds(&t, "%2f")
                         : *c == '=' ? hc_buf_adds(&t, "%3d")
                                     : hc_buf_addc(&t, *c),
                         0);
    expect_verify(t.p, NS_URI "/messages", 0, 0, HC_SAS_OK);
    hc_buf_free(&t);
}

static void expiry_of_prebuilt(void **state)
{
    (void)state;
    int64_t se = 0;
    struct hc_buf t = HC_BUF_INIT;
    assert_int_equal(hc_sas_token(NS_URI, "send", "k", 1234567890, &t), 0);
    assert_int_equal(hc_sas_expiry(t.p, &se), 0);
    assert_int_equal(se, 1234567890);
    assert_int_equal(hc_sas_expiry("SharedAccessSignature sr=a&sig=b&skn=c", &se), HC_E_PARSE);
    hc_buf_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(token_matches_openssl),
        cmocka_unit_test(token_appends_and_checks_args),
        cmocka_unit_test(url_encode),
        cmocka_unit_test(verify_round_trip),
        cmocka_unit_test(verify_refusals),
        cmocka_unit_test(verify_malformed),
        cmocka_unit_test(verify_foreign_token),
        cmocka_unit_test(expiry_of_prebuilt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
