/*
 * fuzz_connstr.c - hc_connstr_parse (common/connstr.h) on any bytes: the first line is the
 * connection string, a second line (when there is one) the hub given separately. A string it
 * accepts has its fields NUL-terminated within their sizes, a port and an audience; one it
 * refuses leaves *out zeroed and says why.
 */
#include "common/connstr.h"
#include "common/error.h"
#include "tests/fuzz/fuzz.h"

static int zeroed(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fz_cstr(data, size);
    if (!s)
        return 0;
    char *nl = strchr(s, '\n');
    const char *hub = NULL;
    if (nl) {
        *nl = '\0';
        hub = nl + 1;
    }
    struct hc_connstr cs;
    const char *why = NULL;
    memset(&cs, 0xa5, sizeof cs);
    int rc = hc_connstr_parse(s, hub, &cs, &why);
    if (rc) {
        FZ_CHECK(rc == HC_E_PARSE || rc == HC_E_INVAL || rc == HC_E_TOOBIG);
        FZ_CHECK(why && *why);
        FZ_CHECK(zeroed(&cs, sizeof cs));
    } else {
        FZ_CHECK(memchr(cs.host, '\0', sizeof cs.host) && memchr(cs.ns, '\0', sizeof cs.ns));
        FZ_CHECK(memchr(cs.hub, '\0', sizeof cs.hub) && memchr(cs.key, '\0', sizeof cs.key));
        FZ_CHECK(memchr(cs.key_name, '\0', sizeof cs.key_name));
        FZ_CHECK(memchr(cs.token, '\0', sizeof cs.token));
        FZ_CHECK(cs.host[0] && cs.hub[0]);
        int port = hc_connstr_port(&cs);
        FZ_CHECK(port > 0 && port <= 65535);
        char aud[1200];
        int n = hc_connstr_audience(&cs, NULL, aud, sizeof aud);
        FZ_CHECK(n == HC_E_TOOBIG || (n > 0 && (size_t)n == strlen(aud)));
        n = hc_connstr_audience(&cs, "amqps", aud, 8);
        FZ_CHECK(n == HC_E_TOOBIG && aud[0] == '\0');
        hc_connstr_wipe(&cs);
    }
    free(s);
    return 0;
}
