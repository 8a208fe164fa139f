/*
 * fuzz_receiver_conf.c - the receiver's INI config loader (receiver/conf.h) on any file: it loads
 * or says why in err; a loaded one goes through rx_conf_check, and when that passes it prints its
 * connection string, which the agent's parser must read, and finds its own hubs by name.
 */
#include "common/connstr.h"
#include "common/error.h"
#include "receiver/conf.h"
#include "tests/fuzz/fuzz.h"

static struct rx_conf c;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fz_memfile(data, size, path, sizeof path);
    if (fd < 0)
        return 0;
    int rc = rx_conf_load(&c, path);
    close(fd);
    FZ_CHECK(memchr(c.err, '\0', sizeof c.err));
    if (rc) {
        FZ_CHECK(rc == HC_E_PARSE || rc == HC_E_INVAL || rc < 0);
        FZ_CHECK(c.err[0]);
        return 0;
    }
    FZ_CHECK(c.nhubs >= 0 && c.nhubs <= RX_MAX_HUBS && c.nrules >= 0 && c.nrules <= RX_MAX_RULES);
    if (rx_conf_check(&c)) {
        FZ_CHECK(c.err[0]);
        return 0;
    }
    char s[2048];
    for (int i = 0; i < c.nhubs; i++)
        FZ_CHECK(rx_conf_hub_index(&c, c.hubs[i].name, strlen(c.hubs[i].name)) >= 0);
    rc = rx_conf_connstr(&c, 8080, 1, s, sizeof s);
    FZ_CHECK(rc == HC_E_NOTFOUND || rc == HC_E_TOOBIG || (rc > 0 && (size_t)rc == strlen(s)));
    if (rc > 0) { /* what the receiver prints, the agent reads */
        struct hc_connstr cs;
        const char *why = NULL;
        FZ_CHECK(hc_connstr_parse(s, NULL, &cs, &why) == 0);
        FZ_CHECK(cs.port == 8080);
    }
    rx_conf_is_loopback(&c);
    return 0;
}
