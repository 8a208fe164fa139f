/*
 * fuzz_sas.c - common/sas.h on any bytes. The first byte chooses:
 *   even: the rest is a token (up to a newline; what follows is the resource asked for), checked
 *         by hc_sas_verify against two fixed keys, and read by hc_sas_expiry;
 *   odd:  the rest is "uri\nkey name\nkey": a token signed with hc_sas_token must verify, for
 *         that uri, before its expiry, and be refused after it.
 */
#include "common/error.h"
#include "common/sas.h"
#include "tests/fuzz/fuzz.h"

#define SE 2000000000LL

struct keys {
    const char *name, *key;
};

static int lookup(void *ctx, const char *name, const char **key, size_t *key_len)
{
    static const struct keys fixed[] = {{"send", "s3cret+/="}, {"RootManageSharedAccessKey", "k"}};
    const struct keys *one = ctx;
    if (one) {
        if (strcmp(one->name, name) != 0)
            return HC_E_NOTFOUND;
        *key = one->key;
        *key_len = strlen(one->key);
        return 0;
    }
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        if (strcmp(fixed[i].name, name) == 0) {
            *key = fixed[i].key;
            *key_len = strlen(fixed[i].key);
            return 0;
        }
    }
    return HC_E_NOTFOUND;
}

static void verify_any(char *s)
{
    char *nl = strchr(s, '\n');
    const char *resource = NULL;
    if (nl) {
        *nl = '\0';
        resource = nl + 1;
    }
    struct hc_sas_claims c;
    enum hc_sas_reason why;
    int64_t se;
    int rc = hc_sas_verify(s, lookup, NULL, resource, SE - 1, &c, &why);
    FZ_CHECK((rc == 0) == (why == HC_SAS_OK));
    FZ_CHECK(hc_sas_reason_str(why) != NULL);
    if (rc == 0)
        FZ_CHECK(strlen(c.audience) < sizeof c.audience && c.expiry_s >= SE);
    hc_sas_expiry(s, &se);
}

static void roundtrip(char *s)
{
    char *uri = s, *name, *key;
    if (!(name = strchr(uri, '\n')))
        return;
    *name++ = '\0';
    if (!(key = strchr(name, '\n')))
        return;
    *key++ = '\0';
    struct hc_buf t = HC_BUF_INIT;
    int rc = hc_sas_token(uri, name, key, SE, &t);
    if (!*uri || !*name || !*key) {
        FZ_CHECK(rc == HC_E_INVAL);
        return;
    }
    FZ_CHECK(rc == 0);
    struct keys k = {name, key};
    struct hc_sas_claims c;
    enum hc_sas_reason why;
    int64_t se = 0;
    if (strlen(uri) < sizeof c.audience && strlen(name) < sizeof c.key_name && t.len <= 4096) {
        FZ_CHECK(hc_sas_verify(t.p, lookup, &k, uri, SE - 1, &c, &why) == 0);
        FZ_CHECK(strcmp(c.key_name, name) == 0 && c.expiry_s == SE);
        FZ_CHECK(hc_sas_verify(t.p, lookup, &k, uri, SE, &c, &why) == HC_E_AUTH &&
                 why == HC_SAS_EXPIRED);
        FZ_CHECK(hc_sas_expiry(t.p, &se) == 0 && se == SE);
    } else {
        hc_sas_verify(t.p, lookup, &k, uri, SE - 1, &c, &why);
    }
    hc_buf_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *s = fz_cstr(data + 1, size - 1);
    if (!s)
        return 0;
    if (data[0] & 1)
        roundtrip(s);
    else
        verify_any(s);
    free(s);
    return 0;
}
