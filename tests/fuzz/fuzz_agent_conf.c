/*
 * fuzz_agent_conf.c - the agent's INI config loader (agent/pipe/conf.h) on any file: it loads or
 * says why, with "FILE:LINE: ..." in err; what it loads has its strings terminated and its counts
 * within their arrays.
 */
#include "agent/pipe/conf.h"
#include "common/error.h"
#include "tests/fuzz/fuzz.h"

static struct ag_conf c;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fz_memfile(data, size, path, sizeof path);
    if (fd < 0)
        return 0;
    int rc = ag_conf_load(path, &c);
    close(fd);
    if (rc) {
        FZ_CHECK(rc == HC_E_PARSE || rc < 0);
        FZ_CHECK(rc != HC_E_PARSE || (c.err[0] && memchr(c.err, '\0', sizeof c.err)));
        return 0;
    }
    FZ_CHECK(c.nsrc >= 0 && c.nsrc <= AG_CONF_MAX_SOURCES);
    FZ_CHECK(c.nhub >= 0 && c.nhub <= AG_CONF_MAX_HUB_KEYS);
    FZ_CHECK(memchr(c.device_id, '\0', sizeof c.device_id) && c.device_id[0]);
    FZ_CHECK(memchr(c.buffer_path, '\0', sizeof c.buffer_path));
    FZ_CHECK(memchr(c.transport, '\0', sizeof c.transport));
    for (int i = 0; i < c.nsrc; i++) {
        FZ_CHECK(memchr(c.src[i].name, '\0', sizeof c.src[i].name));
        FZ_CHECK(memchr(c.src[i].path, '\0', sizeof c.src[i].path));
        FZ_CHECK(memchr(c.src[i].map, '\0', sizeof c.src[i].map));
    }
    for (int i = 0; i < c.nhub; i++)
        FZ_CHECK(memchr(c.hub[i].key, '\0', sizeof c.hub[i].key) &&
                 memchr(c.hub[i].value, '\0', sizeof c.hub[i].value));
    return 0;
}
