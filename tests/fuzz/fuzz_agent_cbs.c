/*
 * fuzz_agent_cbs.c - the agent's reading of a CBS put-token reply (agent/transport/amqp:
 * ag_amqp_cbs_reply) on any bytes, as they come in a transfer on the $cbs link: it decodes (with
 * qpid-proton) or refuses, and a reply to our id has a status and a terminated description.
 */
#include "agent/transport/amqp/amqp_conf.h"
#include "common/error.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char desc[160];
    int status = 12345;
    memset(desc, 'x', sizeof desc);
    int rc = ag_amqp_cbs_reply((const char *)data, size, 1, &status, desc, sizeof desc);
    FZ_CHECK(rc == 0 || rc == 1 || rc == HC_E_PARSE || rc == -ENOMEM);
    if (rc == 1)
        FZ_CHECK(status != 0 && memchr(desc, '\0', sizeof desc));
    else
        FZ_CHECK(status == 12345);
    return 0;
}
